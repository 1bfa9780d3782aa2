#include "compiler/driver/check_command.h"

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "compiler/driver/reference_commands.h"
#include "compiler/lower/lower.h"
#include "runtime/kernels/position_tables.h"
#include "runtime/util/error.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/quant.h"
#include "runtime/weights/weight_names.h"

namespace lmc {

namespace {

// Where a weight's tensor is read, by its file name.
struct Read {
  std::string role;
  int layer = -1;  // -1: not per layer
};

std::string Where(const Read& r) {
  return r.layer < 0 ? "role " + r.role : fmt::format("role {}, layer {}", r.role, r.layer);
}

class Checker {
 public:
  Checker(const Spec& spec, const ir::Graph& g, std::string file, llvm::raw_ostream& err)
      : spec_(spec), g_(g), file_(std::move(file)), err_(err) {}

  // The number of problems found (each reported on its own line).
  int Run(bool scan) {
    try {
      source_ = rt::OpenCheckpoint(file_, g_.info.weights_format, CheckpointDims(g_));
      source_->set_optional_prefix(g_.info.tensor_prefix);
      if (!g_.info.module_prefix.empty()) source_->set_module_prefix(g_.info.module_prefix);
    } catch (const rt::Error& e) {  // Unreadable, truncated, or a header that disagrees.
      Problem(e.what());
      return problems_;
    }
    for (const ir::Weight& w : g_.weights) {
      const int layers = w.per_layer ? g_.LayerCount(w.encoder) : 1;
      for (int layer = 0; layer < layers; ++layer) {
        if (!CheckWeight(w, w.per_layer ? layer : -1)) return problems_;
      }
    }
    CheckTied();
    CheckRopeFreqs();
    for (const std::string& name : source_->Names()) {
      if (used_.count(name)) continue;
      const rt::TensorView& v = *source_->Find(name);
      Problem(fmt::format("{}: unexpected tensor '{}' ({} {}): the model does not read it",
                          source_->path(), name, rt::DTypeName(v.dtype),
                          rt::ShapeToString(v.shape)));
    }
    if (scan) {
      for (const std::string& name : source_->Names()) Scan(name);
    }
    return problems_;
  }

  std::string Summary(bool scan) const {
    std::string text =
        fmt::format("{}: ok ({}: {} tensors", source_->path(), g_.name, used_.size());
    if (converted_ > 0) text += fmt::format(", {} converted at load", converted_);
    if (scan) text += ", all values finite";
    return text + ")";
  }

 private:
  void Problem(const std::string& line) {
    err_ << line << "\n";
    ++problems_;
  }

  // False when the file's names cannot be resolved at all (under several module prefixes):
  // that one line says it all.
  bool CheckWeight(const ir::Weight& w, int layer) {
    const std::string name = layer < 0 ? w.tensor : rt::TensorName(w.tensor, layer);
    // The stored shape, as TensorSource::F32 reads it: the fused whole, transposed.
    rt::Shape shape;
    for (ir::DimId d : w.dims) shape.push_back(g_.dims[d].size);
    rt::Shape stored = shape;
    stored[0] *= w.parts;
    if (w.transposed && stored.size() == 2) std::swap(stored[0], stored[1]);
    std::string file_name;
    try {
      file_name = source_->Resolve(name);
    } catch (const rt::Error& e) {  // An ambiguous name.
      Problem(e.what());
      return false;
    }
    if (!read_.emplace(file_name, Read{w.role, layer}).second) return true;  // Another part.
    const rt::TensorView* view = source_->Find(file_name);
    // A vector that is one row of a [parts, n] table (BERT's token types).
    if (view != nullptr && shape.size() == 1 && w.parts > 1 && w.groups == 1 &&
        view->shape == rt::Shape{w.parts, shape[0]}) {
      stored = view->shape;
    }
    try {
      source_->Tensor(name, stored);  // The runtime's own message for a missing or misshapen one.
    } catch (const rt::Error& e) {
      Problem(fmt::format("{} ({})", e.what(), Where(read_[file_name])));
      if (view != nullptr) used_.insert(file_name);  // Reported once, not again as unexpected.
      return true;
    }
    used_.insert(file_name);
    // A matrix whose layers differ in block type (weights.dtypes lists one per layer).
    const rt::DType dtype = layer >= 0 && static_cast<size_t>(layer) < w.layer_dtypes.size()
                                ? w.layer_dtypes[layer]
                                : w.dtype;
    if (view->dtype == dtype) return true;
    if (rt::IsBlockQuantized(view->dtype) && rt::IsBlockQuantized(dtype)) {
      Problem(fmt::format(
          "{}: tensor '{}' is stored as {}, the model reads it as {} (dtype {}); requantizing "
          "would round twice ({})",
          source_->path(), file_name, rt::DTypeName(view->dtype), rt::DTypeName(dtype),
          rt::DTypeName(spec_.dtype), Where(read_[file_name])));
      return true;
    }
    // Only q8_0 and q4_0 are made at load (TensorSource::Q8_0 / Q4_0); a matrix the model
    // reads in any other block type is mapped as stored.
    if (rt::IsBlockQuantized(dtype) && dtype != rt::DType::kQ8_0 && dtype != rt::DType::kQ4_0) {
      Problem(fmt::format(
          "{}: tensor '{}' is stored as {}, the model reads it as {} blocks as stored ({})",
          source_->path(), file_name, rt::DTypeName(view->dtype), rt::DTypeName(dtype),
          Where(read_[file_name])));
      return true;
    }
    ++converted_;  // Widened, narrowed or (de)quantized once at load.
    return true;
  }

  // A tied model reads its classifier from the token embedding; a file that
  // also stores a classifier must store the same values.
  // llama.cpp's GGUF stores Llama 3's rope scaling as a tensor rope_freqs.weight (one factor
  // per rotated pair). The model computes its frequencies from the spec's llama3 scaling; the
  // tensor is accepted when it holds the same factors (relative 1e-4), else unexpected.
  void CheckRopeFreqs() {
    const rt::TensorView* v = source_->Find("rope_freqs.weight");
    const ir::Op* rope = FindRope(g_.body);
    if (v == nullptr || rope == nullptr ||
        rope->GetOr(ir::attr::kScaling, ir::RopeScaling::kNone) != ir::RopeScaling::kLlama3) {
      return;
    }
    const int dims = ir::RotaryDims(g_, *rope);
    const std::vector<float> scaled = ir::RopeInvFreq(g_, *rope);
    const std::vector<float> plain =
        kernels::RopeInvFreq(static_cast<float>(rope->Get(ir::attr::kTheta)), dims);
    if (v->shape != rt::Shape{dims / 2}) return;  // Reported as unexpected.
    used_.insert("rope_freqs.weight");
    const float* stored = source_->F32("rope_freqs.weight", v->shape);
    for (int i = 0; i < dims / 2; ++i) {
      const float want = plain[i] / scaled[i];
      if (!(std::fabs(stored[i] - want) <= 1e-4f * want)) {
        Problem(
            fmt::format("{}: tensor 'rope_freqs.weight': factor {} is {}, the spec's llama3 "
                        "rope scaling gives {}",
                        source_->path(), i, stored[i], want));
        return;
      }
    }
  }
  static const ir::Op* FindRope(const ir::Block& block) {
    for (const ir::Op& op : block.ops) {
      if (op.kind == ir::OpKind::kRope) return &op;
      if (op.body) {
        if (const ir::Op* inner = FindRope(*op.body)) return inner;
      }
    }
    return nullptr;
  }

  void CheckTied() {
    for (const ir::Weight& w : g_.weights) {
      if (w.role == "classifier") return;
    }
    const std::string classifier = source_->Resolve(lmc::TensorName(spec_, "classifier"));
    const rt::TensorView* copy = source_->Find(classifier);
    if (copy == nullptr || used_.count(classifier)) return;
    const std::string embedding = source_->Resolve(lmc::TensorName(spec_, "token_embedding"));
    const rt::TensorView* tied = source_->Find(embedding);
    if (tied == nullptr) return;  // Reported as missing.
    used_.insert(classifier);
    if (copy->dtype == tied->dtype && copy->shape == tied->shape && copy->bytes == tied->bytes &&
        std::memcmp(copy->data, tied->data, copy->bytes) == 0) {
      return;
    }
    Problem(fmt::format(
        "{}: tensor '{}' ({} {}) differs from '{}' ({} {}), the token embedding the spec ties "
        "the classifier to (embeddings.tied: true)",
        source_->path(), classifier, rt::DTypeName(copy->dtype), rt::ShapeToString(copy->shape),
        embedding, rt::DTypeName(tied->dtype), rt::ShapeToString(tied->shape)));
  }

  // The first NaN or Inf of a tensor, by its row-major element index.
  void Scan(const std::string& name) {
    const rt::TensorView& v = *source_->Find(name);
    int64_t n = 1;
    for (int64_t d : v.shape) n *= d;
    const int64_t cols = v.shape.empty() ? 1 : v.shape.back();
    std::vector<float> row(static_cast<size_t>(std::max<int64_t>(cols, 1)));
    const int64_t rows = cols == 0 ? 0 : n / cols;
    const float* converted = nullptr;  // Types read through TensorSource::F32.
    const bool direct = v.dtype == rt::DType::kF32 || v.dtype == rt::DType::kF16 ||
                        v.dtype == rt::DType::kBF16 || v.dtype == rt::DType::kQ8_0 ||
                        v.dtype == rt::DType::kQ4_0;
    if (!direct) converted = source_->F32(name, v.shape);
    const size_t blocks = rt::QuantBlocks(static_cast<size_t>(cols));
    std::vector<rt::BlockQ8_0> q8(v.dtype == rt::DType::kQ8_0 ? blocks : 0);
    std::vector<rt::BlockQ4_0> q4(v.dtype == rt::DType::kQ4_0 ? blocks : 0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t at = r * cols;
      if (converted != nullptr) {
        std::memcpy(row.data(), converted + at, cols * sizeof(float));
      } else if (v.dtype == rt::DType::kF32) {
        std::memcpy(row.data(), v.data + at * 4, cols * sizeof(float));
      } else if (v.dtype == rt::DType::kF16 || v.dtype == rt::DType::kBF16) {
        for (int64_t c = 0; c < cols; ++c) {
          uint16_t bits;
          std::memcpy(&bits, v.data + (at + c) * 2, 2);
          row[c] = v.dtype == rt::DType::kF16 ? rt::F16ToF32(bits) : rt::BF16ToF32(bits);
        }
      } else if (v.dtype == rt::DType::kQ8_0) {
        std::memcpy(q8.data(), v.data + r * blocks * sizeof(rt::BlockQ8_0),
                    blocks * sizeof(rt::BlockQ8_0));
        rt::DequantizeRowQ8_0(q8.data(), cols, row.data());
      } else {
        std::memcpy(q4.data(), v.data + r * blocks * sizeof(rt::BlockQ4_0),
                    blocks * sizeof(rt::BlockQ4_0));
        rt::DequantizeRowQ4_0(q4.data(), cols, row.data());
      }
      for (int64_t c = 0; c < cols; ++c) {
        if (std::isfinite(row[c])) continue;
        const char* what = std::isnan(row[c]) ? "NaN" : (row[c] > 0 ? "+Inf" : "-Inf");
        const std::string place =
            v.shape.size() == 2 ? fmt::format(" (row {}, column {})", r, c) : "";
        Problem(fmt::format("{}: tensor '{}' has {} at index {}{}", source_->path(), name, what,
                            at + c, place));
        return;
      }
    }
  }

  const Spec& spec_;
  const ir::Graph& g_;
  std::string file_;
  llvm::raw_ostream& err_;
  std::unique_ptr<rt::TensorSource> source_;
  std::map<std::string, Read> read_;  // File name -> the first weight that reads it.
  std::set<std::string> used_;        // File names the model reads (or checked as a tied copy).
  int problems_ = 0;
  int converted_ = 0;
};

}  // namespace

int CheckWeights(const Spec& spec, const ir::Graph& graph, const std::vector<std::string>& files,
                 bool scan, llvm::raw_ostream& out, llvm::raw_ostream& err) {
  int problems = 0;
  for (const std::string& file : files) {
    Checker checker(spec, graph, file, err);
    const int found = checker.Run(scan);
    if (found == 0) out << checker.Summary(scan) << "\n";
    problems += found;
  }
  return problems == 0 ? 0 : 1;
}

}  // namespace lmc
