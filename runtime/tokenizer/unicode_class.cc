#include "runtime/tokenizer/unicode_class.h"

namespace lmc::rt::unicode {
namespace {
#include "runtime/tokenizer/unicode_class_table.inc"
}  // namespace

uint8_t ClassBits(uint32_t cp) {
  if (cp >= 0x110000) return 0;
  return kBlocks[kBlockIndex[cp >> 8]][cp & 0xFF];
}

}  // namespace lmc::rt::unicode
