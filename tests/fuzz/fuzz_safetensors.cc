// libFuzzer: bytes as a safetensors file. Every tensor the reader accepts is
// looked up by name and its first and last bytes are read, so a view that
// reaches outside the mapping is caught by ASan.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "runtime/util/error.h"
#include "runtime/weights/safetensors_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      "/tmp/lmc_fuzz_safetensors_" + std::to_string(::getpid()) + ".safetensors";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    auto checkpoint = lmc::rt::SafetensorsCheckpoint::Open(path);
    for (const std::string& name : checkpoint->Names()) {
      const lmc::rt::TensorView* view = checkpoint->Find(name);
      if (!view) __builtin_trap();  // Names() and Find() disagree
      int64_t elements = 1;
      for (int64_t d : view->shape) elements *= d;  // the reader checked for overflow
      if (static_cast<size_t>(elements) * lmc::rt::DTypeSize(view->dtype) != view->bytes) {
        __builtin_trap();  // the view's size is not its shape's
      }
      if (view->bytes == 0) continue;
      const auto* bytes = reinterpret_cast<const uint8_t*>(view->data);
      volatile uint8_t sink = bytes[0] ^ bytes[view->bytes - 1];
      // As generated code binds it: converted to f32 (in place or copied).
      const float* values = checkpoint->F32(name, view->shape);
      volatile float last = values[elements - 1];
      (void)sink;
      (void)last;
    }
  } catch (const lmc::rt::Error&) {
  }
  return 0;
}
