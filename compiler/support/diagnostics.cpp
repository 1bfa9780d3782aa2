#include "compiler/support/diagnostics.h"

#include <fmt/format.h>
#include <llvm/Support/MemoryBuffer.h>

namespace lmc {

namespace {

// One line of text: control bytes as \xNN, cut at kMaxMessage bytes (at a
// UTF-8 character boundary).
std::string Sanitize(const std::string& message) {
  std::string out;
  for (unsigned char c : message) {
    if (out.size() >= Diagnostics::kMaxMessage && (c & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

const char* KindLabel(llvm::SourceMgr::DiagKind kind) {
  switch (kind) {
    case llvm::SourceMgr::DK_Error:
      return "error";
    case llvm::SourceMgr::DK_Warning:
      return "warning";
    case llvm::SourceMgr::DK_Remark:
      return "remark";
    case llvm::SourceMgr::DK_Note:
      return "note";
  }
  return "error";
}

}  // namespace

unsigned Diagnostics::AddBuffer(std::string text, std::string name) {
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(text, name);
  return sources_.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
}

std::string Diagnostics::BufferName(unsigned buffer) const {
  if (buffer == 0 || buffer > sources_.getNumBuffers()) return "<unknown>";
  return sources_.getMemoryBuffer(buffer)->getBufferIdentifier().str();
}

void Diagnostics::Error(const Location& where, const std::string& message) {
  ++errors_;
  hiding_ = errors_ > kMaxShownErrors;
  if (errors_ == kMaxShownErrors + 1) {
    out_ << "lmc: note: more than " << kMaxShownErrors
         << " errors; the rest are counted but not shown\n";
  }
  if (!hiding_) Print(where, llvm::SourceMgr::DK_Error, message);
}

void Diagnostics::Note(const Location& where, const std::string& message) {
  if (!hiding_) Print(where, llvm::SourceMgr::DK_Note, message);
}

std::string Diagnostics::Describe(const Location& where) const {
  if (!where.valid()) return "<built-in default>";
  return BufferName(where.buffer) + ":" + std::to_string(where.line) + ":" +
         std::to_string(where.column);
}

void Diagnostics::Print(const Location& where, llvm::SourceMgr::DiagKind kind,
                        const std::string& message) {
  std::string text = Sanitize(message);
  if (!where.valid() || where.buffer > sources_.getNumBuffers()) {
    out_ << "lmc: " << KindLabel(kind) << ": " << text << "\n";
    out_.flush();
    return;
  }
  out_ << Sanitize(BufferName(where.buffer)) << ":" << where.line << ":" << where.column << ": "
       << KindLabel(kind) << ": " << text << "\n";

  // The source line, cut to a window around the column, and a caret under it.
  llvm::StringRef buffer = sources_.getMemoryBuffer(where.buffer)->getBuffer();
  llvm::SMLoc start = sources_.FindLocForLineAndColumn(where.buffer, where.line, 1);
  if (start.isValid()) {
    size_t begin = start.getPointer() - buffer.data();
    size_t end = buffer.find('\n', begin);
    if (end == llvm::StringRef::npos) end = buffer.size();
    llvm::StringRef line = buffer.slice(begin, end);
    if (line.endswith("\r")) line = line.drop_back();
    size_t column = where.column > 0 ? where.column - 1 : 0;
    if (column > line.size()) column = line.size();
    size_t from = 0;
    if (line.size() > kMaxShownLine && column > kMaxShownLine / 2) {
      from = std::min(column - kMaxShownLine / 2, line.size() - kMaxShownLine);
    }
    size_t to = std::min(line.size(), from + kMaxShownLine);
    std::string shown = from > 0 ? "..." : "";
    size_t caret = column - from + shown.size();
    for (char c : line.slice(from, to)) {
      unsigned char u = static_cast<unsigned char>(c);
      shown += u < 0x20 || u >= 0x7f ? (c == '\t' ? ' ' : '?') : c;
    }
    if (to < line.size()) shown += "...";
    std::string marker(caret, ' ');
    marker += '^';
    size_t length = where.length > 1 ? std::min<size_t>(where.length, to - column) : 1;
    if (length > 1) marker += std::string(length - 1, '~');
    out_ << shown << "\n" << marker << "\n";
  }
  out_.flush();
}

}  // namespace lmc
