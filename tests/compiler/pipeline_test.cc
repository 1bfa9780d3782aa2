// The compiler's stages on their own: spec tree (extends, --set), IR
// verifier, passes, emitter.
#include "compiler/pipeline.h"

#include <llvm/Support/raw_ostream.h>

#include <catch2/catch.hpp>
#include <functional>
#include <set>

#include "compiler/emit/emit_cpp.h"
#include "compiler/lower/lower.h"
#include "compiler/passes/passes.h"

namespace fs = std::filesystem;

namespace {

const std::string kStories = std::string(LMC_SOURCE_DIR) + "/specs/stories260k.yaml";

lmc::PipelineOptions Stories(std::vector<std::string> overrides = {}) {
  lmc::PipelineOptions options;
  options.spec_path = kStories;
  options.overrides = std::move(overrides);
  return options;
}

lmc::Spec LoadStories(std::vector<std::string> overrides = {}) {
  std::string out;
  llvm::raw_string_ostream stream(out);
  lmc::Diagnostics diags(stream);
  auto spec = lmc::LoadSpec(Stories(std::move(overrides)), diags);
  INFO(stream.str());
  REQUIRE(spec);
  return *spec;
}

lmc::ir::Graph Lowered(const lmc::Spec& spec) {
  lmc::Diagnostics diags;
  auto graph = lmc::Lower(spec, diags);
  REQUIRE(graph);
  return std::move(*graph);
}

int CountOps(const lmc::ir::Block& block, lmc::ir::OpKind kind) {
  int n = 0;
  for (const auto& op : block.ops) {
    n += op.kind == kind;
    if (op.body) n += CountOps(*op.body, kind);
  }
  return n;
}

}  // namespace

TEST_CASE("extends merges the base and the spec overrides it", "[spec]") {
  lmc::Spec spec = LoadStories();
  CHECK(spec.name == "stories260k");
  CHECK(spec.norm.kind == lmc::NormKind::kRmsNorm);  // From the base.
  CHECK(spec.attention.n_kv_heads == 4);             // From the spec.
  CHECK(spec.attention.head_dim == 8);               // Derived: 64 / 8.
  CHECK(spec.attention.scale == Approx(1 / std::sqrt(8.0)));
  CHECK(spec.tokenizer.bos == 1);
  // The resolved spec is a merge: base keys and spec keys, no extends.
  CHECK(spec.resolved_yaml.find("kind: rmsnorm") != std::string::npos);
  CHECK(spec.resolved_yaml.find("n_kv_heads: 4") != std::string::npos);
  CHECK(spec.resolved_yaml.find("extends") == std::string::npos);
  // Locations point into the file that gave the value.
  CHECK(spec.Where("norm.kind").valid());
  CHECK(spec.Where("attention.n_kv_heads").line == 15);
}

TEST_CASE("--set overrides and adds nested keys", "[spec]") {
  lmc::Spec spec = LoadStories({"attention.n_kv_heads=1", "position.rope.theta=500000"});
  CHECK(spec.attention.n_kv_heads == 1);
  CHECK(spec.position.rope.theta == 500000);
  CHECK(spec.resolved_yaml.find("theta: 500000") != std::string::npos);
}

TEST_CASE("lowering stories260k gives a verified decoder graph", "[ir]") {
  lmc::ir::Graph graph = Lowered(LoadStories());
  CHECK(lmc::ir::Verify(graph).empty());
  CHECK(CountOps(graph.body, lmc::ir::OpKind::kLayers) == 1);
  CHECK(CountOps(graph.body, lmc::ir::OpKind::kLinear) == 8);  // q k v o gate up down + classifier
  CHECK(CountOps(graph.body, lmc::ir::OpKind::kRope) == 2);
  const auto& logits = graph.values[graph.output];
  REQUIRE(logits.dims.size() == 2);
  CHECK(graph.dims[logits.dims[0]].name == "R");
  CHECK(graph.dims[logits.dims[0]].dynamic);
  CHECK(graph.dims[logits.dims[1]].name == "vocab");
  CHECK(graph.dims[logits.dims[1]].size == 512);
  // The KV caches are declared state with a run-time capacity.
  REQUIRE(graph.states.size() == 2);
  CHECK(graph.dims[graph.states[0].dims[0]].dynamic);
  // Tied: the classifier is the token embedding, no separate weight.
  for (const auto& w : graph.weights) CHECK(w.role != "classifier");
  std::string text = lmc::ir::Print(graph);
  CHECK(text.find("%att = attention %q.rope, %positions, %kv, state k_cache, state v_cache "
                  "{heads = heads, kv_heads = kv_heads") != std::string::npos);
}

TEST_CASE("the verifier catches malformed graphs", "[ir]") {
  lmc::Spec spec = LoadStories();
  SECTION("use before definition") {
    lmc::ir::Graph graph = Lowered(spec);
    auto& body = *graph.body.ops[1].body;
    std::swap(body.ops[0], body.ops[1]);  // linear q before the norm it reads
    auto problems = lmc::ir::Verify(graph);
    REQUIRE_FALSE(problems.empty());
    CHECK(problems[0].find("used before it is defined") != std::string::npos);
  }
  SECTION("shape mismatch") {
    lmc::ir::Graph graph = Lowered(spec);
    graph.weights[2].dims[1] = graph.FindDim("hidden");  // wq no longer takes a d_model input
    auto problems = lmc::ir::Verify(graph);
    REQUIRE_FALSE(problems.empty());
    CHECK(problems[0].find("weight columns vs input: hidden vs d_model") != std::string::npos);
  }
  SECTION("missing attribute") {
    lmc::ir::Graph graph = Lowered(spec);
    for (auto& op : graph.body.ops[1].body->ops) {
      if (op.kind == lmc::ir::OpKind::kRope) op.attrs.clear();
    }
    auto problems = lmc::ir::Verify(graph);
    REQUIRE_FALSE(problems.empty());
    CHECK(problems[0].find("missing attribute heads") != std::string::npos);
  }
  SECTION("per-layer weight outside the layers") {
    lmc::ir::Graph graph = Lowered(spec);
    graph.weights.back().per_layer = true;  // final_norm
    auto problems = lmc::ir::Verify(graph);
    REQUIRE_FALSE(problems.empty());
    CHECK(problems[0].find("per-layer weight @final_norm used outside layers") !=
          std::string::npos);
  }
}

TEST_CASE("fuse-gated-ffn replaces gate, up and swiglu with one op", "[passes]") {
  lmc::ir::Graph graph = Lowered(LoadStories());
  lmc::passes::FuseGatedFfn(graph);
  CHECK(lmc::ir::Verify(graph).empty());
  CHECK(CountOps(graph.body, lmc::ir::OpKind::kSwiGlu) == 0);
  CHECK(CountOps(graph.body, lmc::ir::OpKind::kGatedLinear) == 1);
  CHECK(CountOps(graph.body, lmc::ir::OpKind::kLinear) == 6);

  SECTION("not when the gate has another use") {
    lmc::ir::Graph other = Lowered(LoadStories());
    auto& body = *other.body.ops[1].body;
    // Make the last residual add read the gate's projection too: the fusion
    // would lose a value someone needs.
    int gate = -1;
    for (const auto& op : body.ops) {
      if (op.kind == lmc::ir::OpKind::kLinear && other.weights[op.weights[0]].role == "w_gate") {
        gate = op.result;
      }
    }
    REQUIRE(gate >= 0);
    lmc::ir::Op extra(lmc::ir::OpKind::kAdd);
    extra.operands = {gate, gate};
    extra.result = other.AddValue("gate.twice", other.values[gate].dims);
    body.ops.push_back(std::move(extra));
    lmc::passes::FuseGatedFfn(other);
    CHECK(CountOps(other.body, lmc::ir::OpKind::kGatedLinear) == 0);
    CHECK(lmc::ir::Verify(other).empty());
  }
}

TEST_CASE("plan-buffers shares buffers without clobbering live values", "[passes]") {
  lmc::ir::Graph graph = Lowered(LoadStories());
  lmc::passes::FuseGatedFfn(graph);
  lmc::passes::PlanBuffers(graph);
  CHECK(lmc::ir::Verify(graph).empty());
  // Values the graph still defines (fusion leaves the replaced ones unused).
  std::set<int> defined;
  std::function<void(const lmc::ir::Block&)> collect = [&](const lmc::ir::Block& block) {
    defined.insert(block.args.begin(), block.args.end());
    for (const auto& op : block.ops) {
      defined.insert(op.result);
      if (op.body) collect(*op.body);
    }
  };
  collect(graph.body);
  int values = 0;
  for (int id : defined) {
    const auto& v = graph.values[id];
    if (v.kind == lmc::ir::Value::Kind::kState || id == graph.tokens || id == graph.positions) {
      continue;
    }
    ++values;
    REQUIRE(v.buffer >= 0);
    CHECK(graph.buffers[v.buffer].row == v.dims.back());
  }
  CHECK(graph.buffers.size() < static_cast<size_t>(values) / 2);
  // No op writes a buffer one of its inputs is still read from, except the
  // in-place kernels on their first operand.
  std::function<void(const lmc::ir::Block&)> check = [&](const lmc::ir::Block& block) {
    for (const auto& op : block.ops) {
      if (op.body) check(*op.body);
      if (graph.values[op.result].kind == lmc::ir::Value::Kind::kState || op.body) continue;
      bool in_place = lmc::ir::Def(op.kind).inplace == 0;
      for (size_t i = in_place ? 1 : 0; i < op.operands.size(); ++i) {
        const auto& operand = graph.values[op.operands[i]];
        if (operand.buffer < 0) continue;  // State tokens and the entry's inputs.
        CHECK(operand.buffer != graph.values[op.result].buffer);
      }
    }
  };
  check(graph.body);
  // The residual stream stays in one buffer across the layer loop.
  const auto& layers = graph.body.ops[1];
  CHECK(graph.values[layers.body->yield].buffer == graph.values[layers.body->args[0]].buffer);
}

TEST_CASE("the emitter writes constants, the layer loop and the banner", "[emit]") {
  lmc::Diagnostics diags;
  auto files = lmc::CompileToCpp(Stories(), diags);
  REQUIRE(files);
  CHECK(files->stem == "stories260k");
  CHECK(files->header.rfind("// Generated from", 0) == 0);
  CHECK(files->header.find("inline constexpr int kDModel = 64;") != std::string::npos);
  CHECK(files->header.find("inline constexpr int kKvHeads = 4;") != std::string::npos);
  CHECK(files->source.find("for (int l = 0; l < kLayers; ++l) {") != std::string::npos);
  CHECK(files->source.find("k::GatedLinear(") != std::string::npos);
  CHECK(files->source.find("k::AttentionRows(") != std::string::npos);
  CHECK(files->source.find("HWY_DYNAMIC_DISPATCH(Forward)") != std::string::npos);
  // A different spec gives different constants.
  auto mqa = lmc::CompileToCpp(Stories({"attention.n_kv_heads=1"}), diags);
  REQUIRE(mqa);
  CHECK(mqa->header.find("inline constexpr int kKvHeads = 1;") != std::string::npos);
}
