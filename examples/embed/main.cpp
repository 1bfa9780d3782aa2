// main.c through the C++ wrapper (include/lmc/lmc.hpp): the same story, errors as exceptions.
//   tell_cpp WEIGHTS PROMPT N
#include <cstdio>
#include <cstdlib>
#include <lmc/lmc.hpp>
#include <string>
#include <vector>

extern "C" LMC_DECLARE_MODEL(tinytales);

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s WEIGHTS PROMPT N\n", argv[0]);
    return 2;
  }
  try {
    lmc::Model model(lmc_open_tinytales, argv[1]);
    const lmc_info& info = model.info();
    std::vector<int32_t> ids = model.Tokenize(argv[2]);
    lmc::Session session = model.NewSession(info.max_seq_len);
    session.Prefill(ids);
    const size_t capacity = info.max_seq_len;
    for (long steps = std::atol(argv[3]); steps > 0 && ids.size() < capacity; --steps) {
      int32_t next = session.Sample({.temperature = 0, .top_p = 1, .top_k = 0, .seed = 0});
      if (next == info.eos) break;
      ids.push_back(next);
      if (steps > 1) session.DecodeStep(next);
    }
    size_t first = !ids.empty() && ids[0] == info.bos ? 1 : 0;
    std::string text = model.Detokenize(std::span<const int32_t>(ids).subspan(first));
    std::printf("%s\n", text.c_str());
  } catch (const lmc::Error& e) {
    std::fprintf(stderr, "tell_cpp: %s\n", e.what());
    return 1;
  }
  return 0;
}
