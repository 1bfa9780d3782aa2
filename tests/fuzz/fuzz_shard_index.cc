// libFuzzer: bytes as a model.safetensors.index.json beside two valid shards
// (s1.safetensors: "a"; s2.safetensors: "b", "c"). Every tensor the reader
// accepts is read through, so a view outside its shard's mapping is caught by
// ASan, and a shard path that escapes the folder would be opened and fail.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/util/error.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/sharded_safetensors.h"

namespace {

// The folder with the two shards, written once per process.
const std::string& Folder() {
  static const std::string folder = [] {
    const std::string dir = "/tmp/lmc_fuzz_shards_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    static const std::vector<float> values = {1, 2, 3, 4};
    const auto bytes = std::as_bytes(std::span<const float>(values));
    using lmc::rt::DType;
    lmc::rt::WriteSafetensors(dir + "/s1.safetensors", {{"a", DType::kF32, {2, 2}, bytes}});
    lmc::rt::WriteSafetensors(dir + "/s2.safetensors",
                              {{"b", DType::kF32, {4}, bytes}, {"c", DType::kF32, {1, 4}, bytes}});
    return dir;
  }();
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Folder() + "/model.safetensors.index.json";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    auto checkpoint = lmc::rt::OpenSafetensors(Folder());
    for (const std::string& name : checkpoint->Names()) {
      const lmc::rt::TensorView* view = checkpoint->Find(name);
      if (!view) __builtin_trap();  // Names() and Find() disagree
      const float* values = checkpoint->F32(name, view->shape);
      volatile float last = values[view->bytes / sizeof(float) - 1];
      (void)last;
    }
  } catch (const lmc::rt::Error&) {
  }
  return 0;
}
