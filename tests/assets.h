// Where tests find the shared real assets (models, tokenizers): $LMC_ASSETS,
// else the folder CMake found at configure time (../shared/assets).
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace lmc::test {

inline std::string AssetsDir() {
  if (const char* env = std::getenv("LMC_ASSETS")) return env;
  return LMC_ASSETS_DIR;
}

// Path of an asset; fails the test loudly when it is missing.
inline std::string AssetPath(const std::string& relative) {
  std::string path = AssetsDir() + "/" + relative;
  if (!std::filesystem::exists(path)) {
    FAIL("missing shared asset " << path
                                 << " (set LMC_ASSETS to the folder holding ../shared/assets)");
  }
  return path;
}

}  // namespace lmc::test
