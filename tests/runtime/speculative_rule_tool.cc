// Runs the sampler's speculative rules on cases read from stdin, for
// tests/reference/speculative_rule_reference.py, which transcribes them in Python. A line:
//   verify SEED VOCAB DRAFT p[0..VOCAB) q[0..VOCAB)   ->  "TOKEN ACCEPTED"
//   draw SEED VOCAB p[0..VOCAB)                       ->  "TOKEN"
// Probabilities are decimal floats that round-trip float32 exactly.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string what;
    uint64_t seed;
    int vocab;
    in >> what >> seed >> vocab;
    lmc::rt::Sampler sampler(vocab, lmc::rt::SamplerOptions{1.0f, 1.0f, 0, seed});
    int draft = 0;
    if (what == "verify") in >> draft;
    std::vector<float> p(vocab), q(vocab);
    for (float& v : p) in >> v;
    if (what == "verify") {
      for (float& v : q) in >> v;
    }
    if (!in) {
      std::fprintf(stderr, "speculative_rule_tool: bad line: %s\n", line.c_str());
      return 1;
    }
    if (what == "verify") {
      bool accepted = false;
      const int token = sampler.VerifyDraft(p.data(), q.data(), draft, &accepted);
      std::printf("%d %d\n", token, accepted ? 1 : 0);
    } else {
      std::printf("%d\n", sampler.DrawFrom(p.data()));
    }
  }
  return 0;
}
