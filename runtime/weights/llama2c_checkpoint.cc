#include "runtime/weights/llama2c_checkpoint.h"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "runtime/util/error.h"
#include "runtime/weights/weight_names.h"

namespace lmc::rt {
namespace {

static_assert(std::endian::native == std::endian::little,
              "llama2.c checkpoints are little-endian and used in place");

constexpr int kHeaderFields = 7;
constexpr size_t kHeaderBytes = kHeaderFields * sizeof(int32_t);
constexpr std::array<const char*, kHeaderFields> kFieldNames = {
    "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
// llama2.c's versioned exports (v1, v2) start with this magic instead of dim.
constexpr int32_t kVersionedMagic = 0x616b3432;  // "ak42"

std::array<int, kHeaderFields> Fields(const Llama2cConfig& c) {
  return {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len};
}

// Sizes multiply header fields; a corrupt header must not overflow them.
int64_t CheckedMul(const std::string& path, std::initializer_list<int64_t> factors) {
  int64_t product = 1;
  for (int64_t f : factors) {
    if (__builtin_mul_overflow(product, f, &product)) {
      Fail("{}: tensor sizes overflow 64 bits for this config", path);
    }
  }
  return product;
}

// Rejects configs the layout cannot describe (head_size must divide evenly).
void CheckConsistent(const std::string& path, const Llama2cConfig& c, const char* what) {
  const auto fields = Fields(c);
  for (int i = 0; i < kHeaderFields; ++i) {
    if (fields[i] <= 0) {
      Fail("{}: {} field {} is {}, must be positive", path, what, kFieldNames[i], fields[i]);
    }
  }
  if (c.dim % c.n_heads != 0) {
    Fail("{}: {} has dim {} not divisible by n_heads {}", path, what, c.dim, c.n_heads);
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    Fail("{}: {} has n_heads {} not divisible by n_kv_heads {}", path, what, c.n_heads,
         c.n_kv_heads);
  }
  if ((c.dim / c.n_heads) % 2 != 0) {
    Fail("{}: {} has odd head_size {} (dim / n_heads); RoPE needs it even", path, what,
         c.dim / c.n_heads);
  }
}

}  // namespace

std::unique_ptr<Llama2cCheckpoint> Llama2cCheckpoint::Open(const std::string& path,
                                                           const Llama2cConfig& expected) {
  CheckConsistent(path, expected, "the compiled model config");
  MappedFile file = MappedFile::Open(path);
  if (file.size() < kHeaderBytes) {
    Fail("{}: truncated: expected a {}-byte llama2.c header, found {} bytes", path, kHeaderBytes,
         file.size());
  }
  std::array<int32_t, kHeaderFields> header;
  std::memcpy(header.data(), file.data(), kHeaderBytes);
  if (header[0] == kVersionedMagic) {
    Fail(
        "{}: starts with magic 'ak42' (a versioned llama2.c export, version {}); only the legacy "
        "version 0 format is supported",
        path, header[1]);
  }

  Llama2cConfig found;
  found.dim = header[0];
  found.hidden_dim = header[1];
  found.n_layers = header[2];
  found.n_heads = header[3];
  found.n_kv_heads = header[4];
  // Negative vocab_size marks an untied classifier; INT_MIN has no magnitude.
  found.vocab_size = header[5] == INT_MIN ? 0 : std::abs(header[5]);
  found.shared_classifier = header[5] > 0;
  found.seq_len = header[6];

  const auto found_fields = Fields(found);
  const auto expected_fields = Fields(expected);
  for (int i = 0; i < kHeaderFields; ++i) {
    if (found_fields[i] <= 0) {
      Fail("{}: header field {} is {}, {}; not a llama2.c checkpoint?", path, kFieldNames[i],
           header[i], i == 5 ? "not a valid vocabulary size" : "must be positive");
    }
  }
  for (int i = 0; i < kHeaderFields; ++i) {
    if (found_fields[i] == expected_fields[i]) continue;
    // Say what the file holds: vocab_size -N means N tokens, untied classifier.
    const std::string meaning = i == 5 && header[i] < 0
                                    ? fmt::format(" ({} token{}, untied classifier)",
                                                  found_fields[i], found_fields[i] == 1 ? "" : "s")
                                    : "";
    Fail("{}: header field {} is {}{}, but the model was compiled for {}", path, kFieldNames[i],
         header[i], meaning, expected_fields[i]);
  }
  if (found.shared_classifier != expected.shared_classifier) {
    if (expected.shared_classifier) {
      Fail(
          "{}: header says the classifier is untied (negative vocab_size), but the model was "
          "compiled with tied embeddings",
          path);
    }
    Fail(
        "{}: header says the classifier is tied to the token embedding (positive vocab_size), "
        "but the model was compiled with an untied classifier",
        path);
  }

  const Llama2cConfig& c = expected;
  const int64_t dim = c.dim, hidden = c.hidden_dim, layers = c.n_layers, vocab = c.vocab_size;
  const int64_t head_size = dim / c.n_heads;
  const int64_t kv_dim = c.n_kv_heads * head_size;

  auto checkpoint = std::unique_ptr<Llama2cCheckpoint>(new Llama2cCheckpoint(std::move(file), c));
  // Walk the fixed layout, recording each block's offset in floats; the file
  // size is checked before any pointer into it is handed out.
  int64_t offset = 0;
  auto block = [&](std::initializer_list<int64_t> dims) {
    const int64_t start = offset;
    if (__builtin_add_overflow(offset, CheckedMul(path, dims), &offset)) {
      Fail("{}: tensor sizes overflow 64 bits for this config", path);
    }
    return start;
  };
  const int64_t tok_emb = block({vocab, dim});
  const int64_t rms_att = block({layers, dim});
  const int64_t wq = block({layers, dim, dim});
  const int64_t wk = block({layers, kv_dim, dim});
  const int64_t wv = block({layers, kv_dim, dim});
  const int64_t wo = block({layers, dim, dim});
  const int64_t rms_ffn = block({layers, dim});
  const int64_t w1 = block({layers, hidden, dim});
  const int64_t w2 = block({layers, dim, hidden});
  const int64_t w3 = block({layers, hidden, dim});
  const int64_t rms_final = block({dim});
  block({c.seq_len, head_size / 2});  // freq_cis_real: legacy, unused (RoPE is computed)
  block({c.seq_len, head_size / 2});  // freq_cis_imag
  const int64_t wcls = c.shared_classifier ? tok_emb : block({vocab, dim});

  const int64_t floats = offset;
  if (floats > (INT64_MAX - static_cast<int64_t>(kHeaderBytes)) / 4) {
    Fail("{}: tensor sizes overflow 64 bits for this config", path);
  }
  const uint64_t want = kHeaderBytes + static_cast<uint64_t>(floats) * sizeof(float);
  const uint64_t have = checkpoint->file_.size();
  if (have < want)
    Fail("{}: truncated: expected {} bytes for this config, found {}", path, want, have);
  if (have > want) {
    Fail("{}: too long: expected {} bytes for this config, found {} ({} trailing bytes)", path,
         want, have, have - want);
  }

  // Offset 28 is 4-byte aligned and mmap is page aligned, so float access is fine.
  const std::byte* base =
      reinterpret_cast<const std::byte*>(checkpoint->file_.data() + kHeaderBytes);
  const std::map<std::string, std::string>& names = DefaultTensorNames("llama2c");
  auto add = [&](const char* role, int64_t layer, int64_t at, Shape shape) {
    // Every block lies inside the file (checked above), so this cannot overflow.
    size_t bytes = sizeof(float);
    for (int64_t d : shape) bytes *= static_cast<size_t>(d);
    checkpoint->tensors_.emplace(TensorName(names.at(role), layer),
                                 TensorView{DType::kF32, std::move(shape), base + 4 * at, bytes});
  };
  add("token_embedding", 0, tok_emb, {vocab, dim});
  for (int64_t i = 0; i < layers; ++i) {
    add("attn_norm", i, rms_att + i * dim, {dim});
    add("wq", i, wq + i * dim * dim, {dim, dim});
    add("wk", i, wk + i * kv_dim * dim, {kv_dim, dim});
    add("wv", i, wv + i * kv_dim * dim, {kv_dim, dim});
    add("wo", i, wo + i * dim * dim, {dim, dim});
    add("ffn_norm", i, rms_ffn + i * dim, {dim});
    add("w_gate", i, w1 + i * hidden * dim, {hidden, dim});
    add("w_down", i, w2 + i * dim * hidden, {dim, hidden});
    add("w_up", i, w3 + i * hidden * dim, {hidden, dim});
  }
  add("final_norm", 0, rms_final, {dim});
  add("classifier", 0, wcls, {vocab, dim});
  return checkpoint;
}

}  // namespace lmc::rt
