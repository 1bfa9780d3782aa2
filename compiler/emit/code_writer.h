// Accumulates C++ source line by line with indentation, so emitters read as
// the code they write.
#pragma once

#include <fmt/format.h>

#include <string>

namespace lmc {

class CodeWriter {
 public:
  template <typename... Args>
  void Line(fmt::format_string<Args...> format, Args&&... args) {
    std::string text = fmt::format(format, std::forward<Args>(args)...);
    if (!text.empty()) out_.append(2 * depth_, ' ');
    out_ += text;
    out_ += '\n';
  }
  void Blank() { out_ += '\n'; }
  void Raw(const std::string& text) { out_ += text; }  // Already indented lines.
  void Indent() { ++depth_; }
  void Outdent() { --depth_; }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
  int depth_ = 0;
};

}  // namespace lmc
