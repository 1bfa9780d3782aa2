// Located user diagnostics ("spec.yaml:12:5: error: ...") on top of LLVM's SourceMgr.
//
// Every input the compiler reads (spec files, files they extend, --set
// overrides) is a buffer in one SourceMgr, so a Location from any of them
// prints the same way: file:line:col, the source line, and a caret range.
// Errors accumulate so one run reports every problem; after kMaxShownErrors
// they are still counted but no longer printed. Whatever the input holds, a
// diagnostic prints as three short lines: long source lines are cut to a
// window around the column, and control or non-ASCII bytes in them (and in
// messages) are shown as '?' (source) or \xNN (messages).
#pragma once

#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

#include <string>

namespace lmc {

// A place in a source buffer. Lines and columns are 1-based; buffer 0 means
// "no location" (for example a default value).
struct Location {
  unsigned buffer = 0;
  unsigned line = 0;
  unsigned column = 0;
  unsigned length = 0;  // Characters to underline; 0 for a single caret.

  bool valid() const { return buffer != 0; }
};

class Diagnostics {
 public:
  explicit Diagnostics(llvm::raw_ostream& out = llvm::errs()) : out_(out) {}

  llvm::SourceMgr& sources() { return sources_; }

  // Adds a buffer (a file's text, or an override) and returns its id.
  unsigned AddBuffer(std::string text, std::string name);
  std::string BufferName(unsigned buffer) const;

  void Error(const Location& where, const std::string& message);
  void Note(const Location& where, const std::string& message);
  // "file:line:col" for use inside other messages.
  std::string Describe(const Location& where) const;

  int error_count() const { return errors_; }

  static constexpr int kMaxShownErrors = 50;
  static constexpr unsigned kMaxShownLine = 100;  // Columns of source shown.
  static constexpr size_t kMaxMessage = 300;      // Bytes of a message shown.

 private:
  void Print(const Location& where, llvm::SourceMgr::DiagKind kind, const std::string& message);

  llvm::raw_ostream& out_;
  llvm::SourceMgr sources_;
  int errors_ = 0;
  bool hiding_ = false;  // Past kMaxShownErrors: the notes of hidden errors are hidden too.
};

}  // namespace lmc
