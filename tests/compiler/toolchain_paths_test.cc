// RuntimeHeadersDigest: what `lmc build`'s cache key takes of the runtime's headers.
#include "compiler/driver/toolchain_paths.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("RuntimeHeadersDigest changes with any runtime header's content, and only then",
          "[toolchain]") {
  char pattern[] = "/tmp/lmc-toolchain-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const fs::path root = pattern;
  Write(root / "runtime/kernels/rows-inl.h", "// rows\n");
  Write(root / "runtime/model/model.h", "// model\n");
  Write(root / "runtime/kernels/notes.txt", "not a header\n");
  const lmc::ToolchainPaths paths{{root.string()}, {}};

  const std::string before = lmc::RuntimeHeadersDigest(paths);
  CHECK(before.find("rows-inl.h") != std::string::npos);
  CHECK(before.find("model.h") != std::string::npos);
  CHECK(before.find("notes.txt") == std::string::npos);
  CHECK(lmc::RuntimeHeadersDigest(paths) == before);
  Write(root / "runtime/kernels/notes.txt", "still not a header\n");
  CHECK(lmc::RuntimeHeadersDigest(paths) == before);

  Write(root / "runtime/kernels/rows-inl.h", "// rows, a template changed\n");
  const std::string after = lmc::RuntimeHeadersDigest(paths);
  CHECK(after != before);
  Write(root / "runtime/kernels/new-inl.h", "// another\n");
  CHECK(lmc::RuntimeHeadersDigest(paths) != after);
  fs::remove_all(root);
}
