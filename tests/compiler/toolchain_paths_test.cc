// RuntimeHeadersDigest: what `lmc build`'s cache key takes of the runtime's headers; and the
// installed toolchain file's lines.
#include "compiler/driver/toolchain_paths.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A new empty folder under /tmp.
fs::path TempDir() {
  char pattern[] = "/tmp/lmc-toolchain-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  return pattern;
}

}  // namespace

TEST_CASE("RuntimeHeadersDigest changes with any runtime header's content, and only then",
          "[toolchain]") {
  const fs::path root = TempDir();
  Write(root / "runtime/kernels/rows-inl.h", "// rows\n");
  Write(root / "runtime/model/model.h", "// model\n");
  Write(root / "runtime/kernels/notes.txt", "not a header\n");
  lmc::ToolchainPaths paths;
  paths.include_dirs = {root.string()};

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

TEST_CASE("An installed toolchain file gives the include, link and mpi paths", "[toolchain]") {
  const fs::path root = TempDir();
  Write(root / "include/lmc/lmc.h", "");
  Write(root / "lib/liblmc_runtime.a", "");
  Write(root / "lib/liblmc_distributed.a", "");
  lmc::ToolchainPaths paths;
  std::string error;
  REQUIRE(lmc::ParseToolchainFile(
      "# comment\ninclude include\nlink lib/liblmc_runtime.a\nmpi lib/liblmc_distributed.a\n",
      "toolchain.txt", root.string(), paths, error));
  CHECK(paths.include_dirs == std::vector<std::string>{(root / "include").string()});
  CHECK(paths.link_inputs == std::vector<std::string>{(root / "lib/liblmc_runtime.a").string()});
  CHECK(paths.mpi_link_inputs ==
        std::vector<std::string>{(root / "lib/liblmc_distributed.a").string()});

  // Without mpi lines: an lmc built without MPI.
  REQUIRE(lmc::ParseToolchainFile("include include\nlink lib/liblmc_runtime.a\n", "toolchain.txt",
                                  root.string(), paths, error));
  CHECK(paths.mpi_link_inputs.empty());

  CHECK_FALSE(lmc::ParseToolchainFile("include include\nlibrary lib/liblmc_runtime.a\n",
                                      "toolchain.txt", root.string(), paths, error));
  CHECK(error == "toolchain.txt:2: expected 'include PATH', 'link PATH' or 'mpi PATH'");
  CHECK_FALSE(
      lmc::ParseToolchainFile("include include\nlink lib/liblmc_runtime.a\nmpi lib/gone.a\n",
                              "toolchain.txt", root.string(), paths, error));
  CHECK(error.find("toolchain.txt:3: ") == 0);
  CHECK(error.find("does not exist") != std::string::npos);
  fs::remove_all(root);
}
