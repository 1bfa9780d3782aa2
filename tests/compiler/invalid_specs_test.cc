// Every tests/specs/invalid/*.yaml is a spec with mistakes. Each carries its
// expected diagnostics next to the mistakes, as
//   # expected-error: LINE:COL: message substring
//   # expected-error: other.yaml:LINE:COL: message substring   (error in another file)
// and optional overrides as `# set: path.to.key=value`. The test runs the
// pipeline as `lmc build` would (load, validate, lower) and requires exactly
// the expected errors: same count, each at its place with its message.
#include <llvm/Support/raw_ostream.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "compiler/pipeline.h"

namespace fs = std::filesystem;

namespace {

struct Expected {
  std::string file;  // Base name; empty means the spec itself.
  int line, column;
  std::string message;
};

struct Actual {
  std::string file;
  int line, column;
  std::string message;
};

std::vector<fs::path> InvalidSpecs() {
  std::vector<fs::path> out;
  for (const auto& entry :
       fs::directory_iterator(fs::path(LMC_SOURCE_DIR) / "tests/specs/invalid")) {
    if (entry.path().extension() == ".yaml") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("invalid specs report exactly their expected errors", "[spec]") {
  auto specs = InvalidSpecs();
  REQUIRE(specs.size() >= 25);
  const std::regex expected_re(R"(#\s*expected-error:\s*(?:([^:\s]+):)?(\d+):(\d+):\s*(.*\S))");
  const std::regex set_re(R"(#\s*set:\s*(.*\S))");
  const std::regex actual_re(R"(^(.*?):(\d+):(\d+): error: (.*)$)");
  for (const auto& path : specs) {
    DYNAMIC_SECTION(path.filename().string()) {
      std::ifstream in(path);
      std::vector<Expected> expected;
      lmc::PipelineOptions options;
      options.spec_path = path.string();
      for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_search(line, m, expected_re)) {
          expected.push_back({m[1], std::stoi(m[2]), std::stoi(m[3]), m[4]});
        } else if (std::regex_search(line, m, set_re)) {
          options.overrides.push_back(m[1]);
        }
      }
      REQUIRE_FALSE(expected.empty());

      std::string output;
      llvm::raw_string_ostream stream(output);
      lmc::Diagnostics diags(stream);
      if (auto spec = lmc::LoadSpec(options, diags)) lmc::CompileToIr(*spec, options, diags);
      stream.flush();
      INFO("diagnostics:\n" << output);

      std::vector<Actual> actual;
      std::istringstream lines(output);
      for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_match(line, m, actual_re)) {
          actual.push_back(
              {fs::path(m[1].str()).filename().string(), std::stoi(m[2]), std::stoi(m[3]), m[4]});
        }
      }
      CHECK(diags.error_count() == static_cast<int>(expected.size()));
      CHECK(actual.size() == expected.size());
      for (const auto& e : expected) {
        std::string file = e.file.empty() ? path.filename().string() : e.file;
        bool found = false;
        for (const auto& a : actual) {
          found = found || (a.file == file && a.line == e.line && a.column == e.column &&
                            a.message.find(e.message) != std::string::npos);
        }
        INFO("expected " << file << ":" << e.line << ":" << e.column << ": " << e.message);
        CHECK(found);
      }
    }
  }
}
