// CppStringLiteral against the real C++ compiler: every byte string, embedded
// in a program and compiled, must come back byte for byte; and diagnostics
// stay short whatever the source holds.
#include "compiler/support/cpp_literal.h"

#include <llvm/Support/raw_ostream.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/spec/spec_tree.h"
#include "compiler/support/diagnostics.h"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> HostileStrings() {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  return {"",
          "plain",
          "x\";int evil=1;//",
          "back\\slash\\",
          std::string("nul\0inside\0", 11),
          "cr\rlf\ncrlf\r\n",
          "?\?= ?\?/ ?\?' ?\?( ?\?) ?\?! ?\?< ?\?> ?\?- ???",
          "\x01"
          "7\x7f"
          "8 octal then digits",
          "\xff\xfe not UTF-8 \xc3\x28",
          "tab\there",
          all,
          all + all};
}

}  // namespace

TEST_CASE("CppStringLiteral survives the C++ compiler byte for byte", "[emit][hostile]") {
  const auto strings = HostileStrings();
  for (const auto& s : strings) {
    const std::string literal = lmc::CppStringLiteral(s);
    // Only printable ASCII in the literal, no raw quote inside, no trigraph.
    for (size_t i = 0; i < literal.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(literal[i]);
      CHECK((c >= 0x20 && c < 0x7f));
    }
    CHECK(literal.find("??") == std::string::npos);
  }

  fs::path dir = fs::temp_directory_path() / ("lmc_literal_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream program(dir / "t.cpp");
  program << "#include <cstdio>\n#include <string_view>\n";
  program << "int main() {\n  const std::string_view strings[] = {\n";
  for (const auto& s : strings) {
    program << "    std::string_view(" << lmc::CppStringLiteral(s) << ", " << s.size() << "),\n";
    program << "    std::string_view(" << lmc::CppStringLiteralLines(s, "      ") << ", "
            << s.size() << "),\n";
  }
  program << "  };\n  for (auto s : strings) std::fwrite(s.data(), 1, s.size(), stdout);\n}\n";
  program.close();
  std::string command = "c++ -std=c++17 -trigraphs -Werror -Wall -Wtrigraphs -o " +
                        (dir / "t").string() + " " + (dir / "t.cpp").string() + " && " +
                        (dir / "t").string() + " > " + (dir / "out.bin").string();
  REQUIRE(std::system(command.c_str()) == 0);
  std::ifstream in(dir / "out.bin", std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string want;
  for (const auto& s : strings) want += s + s;
  CHECK(got == want);
  fs::remove_all(dir);
}

TEST_CASE("diagnostics stay short whatever the source line holds", "[spec][hostile]") {
  std::string text = "x: " + std::string(200000, '[') + std::string(200000, ']') + "\n";
  std::string output;
  llvm::raw_string_ostream stream(output);
  lmc::Diagnostics diags(stream);
  CHECK(lmc::LoadSpecTreeFromText(text, "deep.yaml", {}, diags) == nullptr);
  stream.flush();
  INFO(output.substr(0, 500));
  CHECK(diags.error_count() == 1);
  CHECK(output.size() < 600);
  CHECK(output.find("nested too deep") != std::string::npos);

  // Control bytes in messages are escaped; the message stays one line.
  output.clear();
  lmc::Diagnostics diags2(stream);
  diags2.Error(lmc::Location{}, std::string("a\nb\rc\0d", 7) + std::string(1000, 'x'));
  stream.flush();
  CHECK(output.find("a\\x0ab\\x0dc\\x00d") != std::string::npos);
  CHECK(output.size() < 400);
  CHECK(std::count(output.begin(), output.end(), '\n') == 1);
}

TEST_CASE("a map of many keys loads in linear time", "[spec][hostile]") {
  std::string text;
  for (int i = 0; i < 90000; ++i) {
    text += 'k';
    text += std::to_string(i);
    text += ": 1\n";
  }
  text += "k17: again\n";
  std::string output;
  llvm::raw_string_ostream stream(output);
  lmc::Diagnostics diags(stream);
  auto start = std::chrono::steady_clock::now();
  CHECK(lmc::LoadSpecTreeFromText(text, "keys.yaml", {}, diags) == nullptr);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stream.flush();
  CHECK(output.find("keys.yaml:90001:1: error: duplicate key 'k17'") != std::string::npos);
  CHECK(output.find("keys.yaml:18:1: note: first given here") != std::string::npos);
  // Quadratic duplicate search took 5.8 s for 50k keys; linear takes well under 1 s.
  CHECK(seconds < 10);
}
