#include "compiler/driver/quantize_command.h"

#include <llvm/Support/raw_ostream.h>

#include <memory>
#include <set>
#include <vector>

#include "compiler/driver/reference_commands.h"
#include "compiler/spec/spec.h"
#include "runtime/util/error.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/gguf_writer.h"
#include "runtime/weights/safetensors_checkpoint.h"
#include "runtime/weights/weight_names.h"

namespace lmc {
namespace {

rt::DType ParseDType(const std::string& name) {
  // The block types lmc reads but does not write yet (k-quants, q4_1, ...) are refused.
  const auto dtype = rt::DTypeByName(name);
  if (dtype &&
      (!rt::IsBlockQuantized(*dtype) || *dtype == rt::DType::kQ8_0 || *dtype == rt::DType::kQ4_0)) {
    return *dtype;
  }
  rt::Fail("--dtype {}: expected f32, f16, bf16, q8_0 or q4_0", name);
}

// The stored names of the weights `graph` reads quantized, every layer spelled out.
std::set<std::string> QuantizedNames(const ir::Graph& graph, const rt::TensorSource& source) {
  std::set<std::string> names;
  for (const ir::Weight& w : graph.weights) {
    if (!rt::IsBlockQuantized(w.dtype)) continue;
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
    const rt::DType dtype = ParseDType(dtype_name);
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
    if (graph != nullptr) quantized = QuantizedNames(*graph, *source);

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
      if (rt::IsBlockQuantized(as)) {
        const bool whole_blocks = shape[1] % static_cast<int64_t>(rt::kQuantBlock) == 0;
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
        default:  // ParseDType refuses the others
          rt::Fail("internal error: lmc quantize to {}", rt::DTypeName(as));
      }
      tensors.push_back({name, as, shape, data});
    }
    rt::WriteGguf(out, tensors);
    llvm::errs() << "lmc: wrote " << out << ": " << tensors.size() << " tensors, matrices as "
                 << rt::DTypeName(dtype);
    if (kept_f32 > 0) llvm::errs() << " (" << kept_f32 << " kept f32: embeddings or odd rows)";
    llvm::errs() << "\n";
    return 0;
  } catch (const rt::Error& e) {
    llvm::errs() << "lmc: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace lmc
