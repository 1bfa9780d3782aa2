#include <algorithm>

#include "runtime/model/model.h"
#include "runtime/util/error.h"

namespace lmc::rt {

const float* Model::Encode(const int*, int) {
  Fail("{} is not an encoder-decoder: it has no encoder input", GetModelInfo().name);
}

std::vector<float> Prefill(Model& model, std::span<const int> tokens, int start, bool all_rows) {
  const ModelInfo& info = GetModelInfo();
  const size_t width = static_cast<size_t>(info.output_width);
  std::vector<float> logits;
  size_t done = 0;
  while (done < tokens.size()) {
    int n = static_cast<int>(std::min<size_t>(info.chunk, tokens.size() - done));
    bool last_chunk = done + n == tokens.size();
    int rows = all_rows ? n : 1;
    if (all_rows || last_chunk) {
      const float* out =
          model.Forward(tokens.data() + done, n, start + static_cast<int>(done), rows);
      logits.insert(logits.end(), out, out + rows * width);
    } else {
      model.Forward(tokens.data() + done, n, start + static_cast<int>(done), 1);
    }
    done += n;
  }
  return logits;
}

}  // namespace lmc::rt
