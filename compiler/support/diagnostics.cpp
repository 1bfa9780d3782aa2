#include "compiler/support/diagnostics.h"

#include <llvm/Support/MemoryBuffer.h>

namespace lmc {

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
  Print(where, llvm::SourceMgr::DK_Error, message);
}

void Diagnostics::Note(const Location& where, const std::string& message) {
  Print(where, llvm::SourceMgr::DK_Note, message);
}

std::string Diagnostics::Describe(const Location& where) const {
  if (!where.valid()) return "<built-in default>";
  return BufferName(where.buffer) + ":" + std::to_string(where.line) + ":" +
         std::to_string(where.column);
}

void Diagnostics::Print(const Location& where, llvm::SourceMgr::DiagKind kind,
                        const std::string& message) {
  if (!where.valid()) {
    sources_.PrintMessage(out_, llvm::SMDiagnostic("lmc", kind, message));
    return;
  }
  llvm::SMLoc loc = sources_.FindLocForLineAndColumn(where.buffer, where.line, where.column);
  llvm::SmallVector<llvm::SMRange, 1> ranges;
  if (where.length > 1 && loc.isValid()) {
    ranges.push_back(
        llvm::SMRange(loc, llvm::SMLoc::getFromPointer(loc.getPointer() + where.length)));
  }
  sources_.PrintMessage(out_, loc, kind, message, ranges);
}

}  // namespace lmc
