#include "compiler/driver/quantize_command.h"

#include <fmt/format.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "compiler/driver/reference_commands.h"
#include "compiler/spec/spec.h"
#include "runtime/util/error.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/gguf_writer.h"
#include "runtime/weights/kquant.h"
#include "runtime/weights/quantize.h"
#include "runtime/weights/safetensors_checkpoint.h"
#include "runtime/weights/weight_names.h"

namespace lmc {
namespace {

// What --dtype asks for: one dtype for every matrix, or llama.cpp's Q4_K_M recipe (q4_k, with
// the classifier and some layers' wv / w_down in q6_k).
struct Target {
  rt::DType dtype;
  bool q4_k_m = false;
};

Target ParseDType(const std::string& name) {
  if (name == "q4_k_m") return {rt::DType::kQ4_K, true};
  const auto dtype = rt::DTypeByName(name);
  if (dtype && (!rt::IsBlockQuantized(*dtype) || rt::CanQuantize(*dtype))) return {*dtype};
  rt::Fail(
      "--dtype {}: expected f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k, "
      "q4_k, q5_k, q6_k or q4_k_m",
      name);
}

// The block types a model reads only as stored (weights.dtypes): all but Q8_0 and Q4_0, which a
// model can also make at load from f32.
bool StoredOnly(rt::DType dtype) {
  return rt::IsBlockQuantized(dtype) && dtype != rt::DType::kQ8_0 && dtype != rt::DType::kQ4_0;
}

// llama.cpp's use_more_bits: the layers Q4_K_M gives more bits (the first and last eighth, and
// every third in between).
bool UseMoreBits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// The weights multiplied by linear / gated_linear ops (the ones k-quants may store).
void MatmulWeights(const ir::Block& block, std::set<int>& out) {
  for (const ir::Op& op : block.ops) {
    if (op.kind == ir::OpKind::kLinear && !op.weights.empty()) out.insert(op.weights[0]);
    if (op.kind == ir::OpKind::kGatedLinear && op.weights.size() >= 2) {
      out.insert(op.weights[0]);
      out.insert(op.weights[1]);
    }
    if (op.body) MatmulWeights(*op.body, out);
  }
}

// For a StoredOnly target with a spec: each stored matrix name -> its dtype (Q4_K_M: by role
// and layer), and per role the dtypes to give weights.dtypes.
struct KQuantPlan {
  std::map<std::string, rt::DType> by_name;
  std::map<std::string, std::vector<rt::DType>> by_role;
};
KQuantPlan PlanKQuant(const ir::Graph& graph, const rt::TensorSource& source, Target target) {
  std::set<int> matmul;
  MatmulWeights(graph.body, matmul);
  if (graph.HasEncode()) MatmulWeights(graph.encode.body, matmul);
  KQuantPlan plan;
  for (int id : matmul) {
    const ir::Weight& w = graph.weights[id];
    // The token embedding stays as it is: its rows are gathered (and a tied classifier's
    // quantized copy of it is made at load).
    if (w.transposed || w.parts != 1 || w.dims.size() != 2 || w.role == "token_embedding" ||
        w.role == "tied_classifier" ||
        graph.dims[w.dims[1]].size % static_cast<int64_t>(rt::DTypeBlock(target.dtype)) != 0) {
      continue;
    }
    const int64_t layers = w.per_layer ? graph.LayerCount(w.encoder) : 1;
    std::vector<rt::DType> dtypes;
    for (int64_t l = 0; l < layers; ++l) {
      rt::DType dtype = target.dtype;
      if (target.q4_k_m) {
        const bool more = w.role == "classifier" ||
                          ((w.role == "wv" || w.role == "w_down") && UseMoreBits(l, layers));
        if (more) dtype = rt::DType::kQ6_K;
      }
      std::string name = rt::TensorName(w.tensor, static_cast<int>(l));
      const std::string prefixed = graph.info.tensor_prefix + name;
      if (source.Find(name) == nullptr && source.Find(prefixed) != nullptr) name = prefixed;
      plan.by_name[name] = dtype;
      dtypes.push_back(dtype);
    }
    if (std::all_of(dtypes.begin(), dtypes.end(), [&](rt::DType d) { return d == dtypes[0]; })) {
      dtypes.resize(1);
    }
    plan.by_role[w.role] = std::move(dtypes);
  }
  return plan;
}

// The stored names of the weights `graph` reads quantized, every layer spelled out.
std::set<std::string> QuantizedNames(const ir::Graph& graph, const rt::TensorSource& source) {
  std::set<std::string> names;
  for (const ir::Weight& w : graph.weights) {
    // A tied classifier's copy is made at load: the embedding's rows stay as stored.
    if (!rt::IsBlockQuantized(w.dtype) || w.role == "tied_classifier") continue;
    const int64_t layers = w.per_layer ? graph.LayerCount(w.encoder) : 1;
    for (int64_t l = 0; l < layers; ++l) {
      std::string name = rt::TensorName(w.tensor, static_cast<int>(l));
      const std::string prefixed = graph.info.tensor_prefix + name;
      if (source.Find(name) == nullptr && source.Find(prefixed) != nullptr) name = prefixed;
      names.insert(name);
    }
  }
  return names;
}

// Token embeddings by every layout's name (with and without its optional prefix).
bool IsTokenEmbedding(const std::string& name) {
  for (const EnumName<WeightsLayout>& entry : kWeightsLayoutNames) {
    const std::string_view layout = entry.name;
    const auto& table = rt::LayoutTensors(layout);
    auto it = table.find("token_embedding");
    if (it == table.end()) continue;
    if (name == it->second.name ||
        name == std::string(rt::LayoutOptionalPrefix(layout)) + it->second.name) {
      return true;
    }
  }
  return false;
}

template <typename T>
std::span<const std::byte> AsBytes(const T* data, size_t count) {
  return {reinterpret_cast<const std::byte*>(data), count * sizeof(T)};
}

}  // namespace

int Quantize(const std::string& in, const std::string& out, const std::string& dtype_name,
             const ir::Graph* graph) {
  try {
    const Target target = ParseDType(dtype_name);
    const rt::DType dtype = target.dtype;
    if (target.q4_k_m && graph == nullptr) {
      rt::Fail("--dtype q4_k_m needs --spec (it picks each matrix's type by its role and layer)");
    }
    std::unique_ptr<rt::TensorSource> source;
    if (graph != nullptr) {
      source = rt::OpenCheckpoint(in, graph->info.weights_format, CheckpointDims(*graph));
    } else {
      try {
        source = rt::SafetensorsCheckpoint::Open(in);
      } catch (const rt::Error& e) {
        rt::Fail("{} (without --spec the input is read as safetensors; llama2.c needs --spec)",
                 e.what());
      }
    }
    rt::CheckOutputPath(out);  // The inputs are read: refuse a bad -o before converting.
    std::set<std::string> quantized;
    KQuantPlan plan;
    if (graph != nullptr && StoredOnly(dtype)) {
      plan = PlanKQuant(*graph, *source, target);
    } else if (graph != nullptr) {
      quantized = QuantizedNames(*graph, *source);
    }
    std::vector<std::vector<std::byte>> blocks;  // StoredOnly conversions, owned here

    std::vector<rt::NamedTensor> tensors;
    std::vector<std::vector<uint16_t>> halves;  // f16 conversions, owned here
    size_t kept_f32 = 0;
    for (const std::string& name : source->Names()) {
      const rt::TensorView view = *source->Find(name);
      const rt::Shape& shape = view.shape;
      size_t n = 1;
      for (int64_t d : shape) n *= static_cast<size_t>(d);
      rt::DType as = shape.size() == 2 ? dtype : rt::DType::kF32;
      // A quantized row must fill whole blocks in GGUF; other matrices stay f32 and a model
      // quantizes them at load (the same code, so the same blocks).
      if (rt::IsBlockQuantized(as) && graph != nullptr && StoredOnly(dtype)) {
        auto planned = plan.by_name.find(name);
        as = planned != plan.by_name.end() ? planned->second : rt::DType::kF32;
      } else if (rt::IsBlockQuantized(as)) {
        const bool whole_blocks = shape[1] % static_cast<int64_t>(rt::DTypeBlock(as)) == 0;
        const bool read_quantized =
            graph != nullptr ? quantized.count(name) > 0 : !IsTokenEmbedding(name);
        if (!whole_blocks || !read_quantized) as = rt::DType::kF32;
      }
      if (as == rt::DType::kF32 && shape.size() == 2 && dtype != rt::DType::kF32) ++kept_f32;
      std::span<const std::byte> data;
      switch (as) {
        case rt::DType::kF32:
          data = AsBytes(source->F32(name, shape), n);
          break;
        case rt::DType::kBF16:
          data = AsBytes(source->BF16(name, shape), n);
          break;
        case rt::DType::kF16: {
          const float* f = source->F32(name, shape);
          auto& h = halves.emplace_back(n);
          for (size_t i = 0; i < n; ++i) h[i] = rt::F32ToF16(f[i]);
          data = AsBytes(h.data(), n);
          break;
        }
        case rt::DType::kQ8_0:
          data = AsBytes(source->Q8_0(name, shape), shape[0] * rt::QuantBlocks(shape[1]));
          break;
        case rt::DType::kQ4_0:
          data = AsBytes(source->Q4_0(name, shape), shape[0] * rt::QuantBlocks(shape[1]));
          break;
        case rt::DType::kQ4_1:
        case rt::DType::kQ5_0:
        case rt::DType::kQ5_1:
        case rt::DType::kIQ4_NL:
        case rt::DType::kQ2_K:
        case rt::DType::kQ3_K:
        case rt::DType::kQ4_K:
        case rt::DType::kQ5_K:
        case rt::DType::kQ6_K: {
          const float* f = source->F32(name, shape);
          const size_t rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
          for (size_t i = 0; i < n; ++i) {
            if (!std::isfinite(f[i])) {
              rt::Fail("{}: tensor '{}' holds {} at [{}, {}]; quantized weights must be finite", in,
                       name, f[i], i / cols, i % cols);
            }
          }
          auto& out_blocks = blocks.emplace_back(rt::RowBytes(as, cols) * rows);
          for (size_t r = 0; r < rows; ++r) {
            rt::QuantizeRow(as, f + r * cols, cols, out_blocks.data() + r * rt::RowBytes(as, cols));
          }
          data = out_blocks;
          break;
        }
        default:  // ParseDType refuses the others
          rt::Fail("internal error: lmc quantize to {}", rt::DTypeName(as));
      }
      tensors.push_back({name, as, shape, data});
    }
    rt::WriteGguf(out, tensors);
    llvm::errs() << "lmc: wrote " << out << ": " << tensors.size() << " tensors, matrices as "
                 << (target.q4_k_m ? "q4_k_m" : rt::DTypeName(dtype));
    if (kept_f32 > 0) llvm::errs() << " (" << kept_f32 << " kept f32: embeddings or odd rows)";
    llvm::errs() << "\n";
    if (!plan.by_role.empty()) {  // What the spec must say to read them as stored.
      llvm::errs() << "lmc: the spec reads them with\nweights:\n  dtypes:\n";
      for (const auto& [role, dtypes] : plan.by_role) {
        std::vector<std::string> names;
        for (rt::DType d : dtypes) names.push_back(rt::DTypeName(d));
        const std::string list =
            names.size() == 1 ? names[0] : fmt::format("[{}]", fmt::join(names, ", "));
        llvm::errs() << "    " << role << ": " << list << "\n";
      }
    }
    return 0;
  } catch (const rt::Error& e) {
    llvm::errs() << "lmc: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace lmc
