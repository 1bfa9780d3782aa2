// libFuzzer: bytes as a GGUF checkpoint. Every tensor the reader accepts is
// looked up by name, its first and last bytes read (ASan catches a view
// outside the mapping), and it is bound as generated code binds weights: as
// f32 (dequantized for blocks), and as q8_0 / q4_0 for matrices.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "runtime/util/error.h"
#include "runtime/weights/gguf_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      "/tmp/lmc_fuzz_gguf_checkpoint_" + std::to_string(::getpid()) + ".gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    auto checkpoint = lmc::rt::GgufCheckpoint::Open(path);
    for (const std::string& name : checkpoint->Names()) {
      const lmc::rt::TensorView* view = checkpoint->Find(name);
      if (!view) __builtin_trap();  // Names() and Find() disagree
      int64_t elements = 1;
      for (int64_t d : view->shape) elements *= d;  // the reader checked for overflow
      const size_t per = lmc::rt::DTypeSize(view->dtype);
      const size_t units = static_cast<size_t>(elements) / lmc::rt::DTypeBlock(view->dtype);
      if (units * per != view->bytes) __builtin_trap();        // the view's size is not its shape's
      if (view->bytes == 0 || elements > (1 << 20)) continue;  // bound the work per input
      const auto* bytes = reinterpret_cast<const uint8_t*>(view->data);
      volatile uint8_t sink = bytes[0] ^ bytes[view->bytes - 1];
      const float* values = checkpoint->F32(name, view->shape);
      volatile float last = values[elements - 1];
      if (view->shape.size() == 2) {
        try {
          volatile auto q8 = checkpoint->Q8_0(name, view->shape)[0].d;
          (void)q8;
        } catch (const lmc::rt::Error&) {  // other blocks, or non-finite values
        }
        try {  // any block type, in place
          volatile auto first = checkpoint->Blocks(name, view->shape, view->dtype)[0];
          (void)first;
        } catch (const lmc::rt::Error&) {  // not block-quantized
        }
      }
      (void)sink;
      (void)last;
    }
  } catch (const lmc::rt::Error&) {
  }
  return 0;
}
