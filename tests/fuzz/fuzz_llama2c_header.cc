// libFuzzer: a compiled model's dims against a llama2.c checkpoint, both from
// the input, through OpenCheckpoint as generated code calls it. Layout: nine
// little-endian int32 (d_model, hidden, n_layers, n_heads, n_kv_heads,
// head_dim, vocab, max_seq_len, tied), then the file: its 28-byte header and
// as many floats as the input holds. Any dims, any header: an Error or a
// checkpoint whose every tensor lies inside the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/util/error.h"
#include "runtime/weights/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kDimsBytes = 9 * sizeof(int32_t);
  if (size < kDimsBytes) return 0;
  int32_t d[9];
  std::memcpy(d, data, kDimsBytes);
  const lmc::rt::ModelDims dims{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8] != 0};

  static const std::string path =
      "/tmp/lmc_fuzz_llama2c_header_" + std::to_string(::getpid()) + ".bin";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data + kDimsBytes, 1, size - kDimsBytes, f);
  std::fclose(f);
  try {
    auto checkpoint = lmc::rt::OpenCheckpoint(path, "llama2c", dims);
    for (const std::string& name : checkpoint->Names()) {
      const lmc::rt::TensorView* view = checkpoint->Find(name);
      if (!view) __builtin_trap();  // Names() and Find() disagree
      if (view->bytes == 0) continue;
      const auto* bytes = reinterpret_cast<const uint8_t*>(view->data);
      volatile uint8_t sink = bytes[0] ^ bytes[view->bytes - 1];
      (void)sink;
    }
  } catch (const lmc::rt::Error&) {
  }
  return 0;
}
