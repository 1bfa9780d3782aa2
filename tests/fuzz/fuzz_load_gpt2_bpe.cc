// libFuzzer: bytes as GPT-2's encoder.json and vocab.bpe (a 4-byte little-endian
// length of encoder.json, encoder.json, then vocab.bpe), then encode and decode
// (tokenizer_loader_fuzz.h).
#include "runtime/tokenizer/bpe.h"
#include "tests/fuzz/tokenizer_loader_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return lmc::fuzz::Run(
      data, size, [](std::string_view file) -> std::unique_ptr<lmc::rt::Tokenizer> {
        if (file.size() < 4) lmc::rt::Fail("short");
        uint32_t n = static_cast<uint8_t>(file[0]) | static_cast<uint8_t>(file[1]) << 8 |
                     static_cast<uint8_t>(file[2]) << 16 |
                     static_cast<uint32_t>(static_cast<uint8_t>(file[3])) << 24;
        file.remove_prefix(4);
        n = std::min<uint32_t>(n, file.size());
        lmc::fuzz::WriteScratch("encoder.json", file.substr(0, n));
        lmc::fuzz::WriteScratch("vocab.bpe", file.substr(n));
        return lmc::rt::LoadGpt2Bpe(lmc::fuzz::ScratchDir());
      });
}
