#include "compiler/driver/reference_commands.h"

#include <llvm/Support/raw_ostream.h>

#include <charconv>

#include "compiler/interp/interpreter.h"
#include "runtime/util/error.h"
#include "runtime/util/npy.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/checkpoint.h"

namespace lmc {

namespace {

std::vector<int> ParseIds(const std::string& text) {
  std::vector<int> ids;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    int id = 0;
    auto [end, ec] = std::from_chars(text.data() + at, text.data() + comma, id);
    if (ec != std::errc() || end != text.data() + comma || comma == at) {
      rt::Fail("--tokens expects comma-separated integers, found '{}'", text);
    }
    ids.push_back(id);
    at = comma + 1;
  }
  return ids;
}

int64_t DimSize(const ir::Graph& g, const char* name) {
  ir::DimId d = g.FindDim(name);
  return d < 0 ? 0 : g.dims[d].size;
}

template <typename F>
int Report(F&& body) {
  try {
    body();
    return 0;
  } catch (const rt::Error& e) {
    llvm::errs() << "lmc: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

rt::ModelDims CheckpointDims(const ir::Graph& g) {
  rt::ModelDims dims;
  dims.d_model = DimSize(g, "d_model");
  dims.hidden = DimSize(g, "hidden");
  dims.n_layers = g.n_layers;
  dims.n_heads = DimSize(g, "heads");
  dims.n_kv_heads = DimSize(g, "kv_heads");
  dims.head_dim = DimSize(g, "head_dim");
  dims.vocab = DimSize(g, "vocab");
  dims.max_seq_len = DimSize(g, "max_seq_len");
  dims.tied = true;
  for (const auto& w : g.weights) dims.tied = dims.tied && w.role != "classifier";
  return dims;
}

int RunReference(const ir::Graph& graph, const std::string& weights, const std::string& tokens,
                 const std::string& out, const std::string& encoder_tokens,
                 const std::string& encoder_out, const std::string& hidden_out) {
  return Report([&] {
    if (!hidden_out.empty() && graph.hidden < 0) {
      rt::Fail("--hidden-out: {} has no hidden output (decoder-only models have)", graph.name);
    }
    std::vector<int> ids = ParseIds(tokens);
    std::vector<int> source_ids;
    if (!encoder_tokens.empty()) source_ids = ParseIds(encoder_tokens);
    auto source = rt::OpenCheckpoint(weights, graph.info.weights_format, CheckpointDims(graph));
    source->set_optional_prefix(graph.info.tensor_prefix);
    if (!graph.info.module_prefix.empty()) source->set_module_prefix(graph.info.module_prefix);
    // The inputs are read: refuse a bad output path before the (slow) interpreter runs.
    rt::CheckOutputPath(out);
    if (!encoder_out.empty()) rt::CheckOutputPath(encoder_out);
    if (!hidden_out.empty()) rt::CheckOutputPath(hidden_out);
    std::vector<float> memory, hidden;
    std::vector<float> logits = Interpret(graph, *source, ids, source_ids, &memory, &hidden);
    if (!encoder_out.empty()) {
      if (!graph.HasEncode()) rt::Fail("--encoder-out: {} has no encoder", graph.name);
      rt::WriteNpy(encoder_out, memory.data(),
                   {static_cast<int64_t>(source_ids.size()), DimSize(graph, "d_model")});
    }
    if (!hidden_out.empty()) {
      rt::WriteNpy(hidden_out, hidden.data(),
                   {static_cast<int64_t>(ids.size()), DimSize(graph, "d_model")});
    }
    // Logits [tokens, vocab] for a decoder, hidden states [tokens, d_model] for an encoder.
    const int64_t width = graph.dims[graph.values[graph.output].dims.back()].size;
    rt::WriteNpy(out, logits.data(), {static_cast<int64_t>(ids.size()), width});
  });
}

int RandomWeights(const ir::Graph& graph, const std::string& out, uint64_t seed) {
  return Report([&] {
    if (graph.info.weights_format != "safetensors") {
      rt::Fail(
          "random weights are written as safetensors: build the spec with "
          "--set weights.format=safetensors");
    }
    WriteRandomWeights(graph, out, seed);
  });
}

}  // namespace lmc
