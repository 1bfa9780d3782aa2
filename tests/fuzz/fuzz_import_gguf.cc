// libFuzzer: bytes as a GGUF file given to `lmc import` (compiler/driver/import_gguf.cpp): its
// metadata read and mapped onto a spec, its tensor table and vocabulary read, the spec checked
// and written. Every input either imports or is refused with one error (exit 1); nothing else.
#include <llvm/Support/raw_ostream.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "compiler/driver/import_gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string base = "/tmp/lmc_fuzz_import_gguf_" + std::to_string(::getpid());
  static const std::string path = base + ".gguf", spec = base + ".yaml";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  std::string out, err;
  llvm::raw_string_ostream out_stream(out), err_stream(err);
  const int status = lmc::RunImportGguf(path, spec, "", out_stream, err_stream);
  err_stream.flush();
  if (status != 0 && status != 1) __builtin_trap();
  // A refusal is one error line, and writes no spec.
  if (status == 1 && err.rfind("lmc: error: ", 0) != 0) __builtin_trap();
  std::remove(spec.c_str());
  return 0;
}
