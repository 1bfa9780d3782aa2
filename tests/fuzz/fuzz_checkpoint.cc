// libFuzzer: bytes as a llama2.c checkpoint file. The compiled model's config
// is the file's own header when it is plausible (so inputs get past the
// header check and exercise the size checks), else stories260K's.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/util/error.h"
#include "runtime/weights/llama2c_checkpoint.h"

namespace {

std::string TempPath() {
  static std::string path = "/tmp/lmc_fuzz_checkpoint_" + std::to_string(::getpid()) + ".bin";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = TempPath();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);

  lmc::rt::Llama2cConfig expected{64, 172, 5, 8, 4, 512, 512, true};
  if (size >= 28) {
    int32_t h[7];
    std::memcpy(h, data, sizeof h);
    bool plausible = true;
    for (int32_t v : h) plausible = plausible && v > -4096 && v < 4096 && v != 0;
    if (plausible && h[0] > 0 && h[1] > 0 && h[2] > 0 && h[3] > 0 && h[4] > 0 && h[6] > 0) {
      expected = {h[0], h[1], h[2], h[3], h[4], h[5] < 0 ? -h[5] : h[5], h[6], h[5] > 0};
    }
  }
  try {
    auto checkpoint = lmc::rt::Llama2cCheckpoint::Open(path, expected);
    const auto& c = checkpoint->config();
    const int head = c.dim / c.n_heads;
    const float* embedding = checkpoint->F32("tok_embeddings.weight", {c.vocab_size, c.dim});
    volatile float sink = embedding[0] + embedding[int64_t{c.vocab_size} * c.dim - 1];
    const float* wk =
        checkpoint->F32("layers.0.attention.wk.weight", {c.n_kv_heads * head, c.dim});
    sink = sink + wk[int64_t{c.n_kv_heads} * head * c.dim - 1];
    (void)sink;
  } catch (const lmc::rt::Error&) {
  }
  return 0;
}
