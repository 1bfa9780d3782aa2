#include "runtime/tokenizer/gguf_vocab.h"

#include <cstring>
#include <string_view>
#include <unordered_set>

#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/sentencepiece.h"
#include "runtime/tokenizer/sentencepiece_tables.h"
#include "runtime/tokenizer/wordpiece.h"
#include "runtime/util/error.h"
#include "runtime/weights/gguf_reader.h"
#include "runtime/weights/mapped_file.h"

namespace lmc::rt {
namespace {

using enum gguf::ValueType;
using gguf::kMaxKeyLength;
using gguf::Preamble;
using gguf::Reader;
using gguf::ScalarSize;
using gguf::TypeName;

}  // namespace

GgufVocab ReadGgufVocab(const std::string& path) {
  const MappedFile file = MappedFile::Open(path);
  Reader r(file.data(), file.size(), path);
  GgufVocab v;
  v.path = path;
  const Preamble preamble = gguf::ReadPreamble(r);
  v.version = preamble.version;
  const uint64_t kv_count = preamble.metadata_count;

  std::unordered_set<std::string_view> keys;
  for (uint64_t i = 0; i < kv_count; ++i) {
    const std::string_view key = gguf::ReadKey(r, keys);
    const size_t type_at = r.offset();
    const uint32_t type = r.Read<uint32_t>("a metadata type");
    if (type > kF64) {
      Fail("{}: byte offset {}: metadata \"{}\" has type {}, expected 0..12", path, type_at,
           Printable(key), type);
    }
    auto expect = [&](uint32_t want) {
      if (type != want) {
        Fail("{}: byte offset {}: metadata \"{}\" is {}, expected {}", path, type_at,
             Printable(key), TypeName(type), TypeName(want));
      }
    };
    // Reads a scalar integer of any integer type as int64.
    auto integer = [&]() -> int64_t {
      switch (type) {
        case kU8:
          return r.Read<uint8_t>(key);
        case kI8:
          return r.Read<int8_t>(key);
        case kU16:
          return r.Read<uint16_t>(key);
        case kI16:
          return r.Read<int16_t>(key);
        case kU32:
          return r.Read<uint32_t>(key);
        case kI32:
          return r.Read<int32_t>(key);
        case kU64:
          return static_cast<int64_t>(r.Read<uint64_t>(key));
        case kI64:
          return r.Read<int64_t>(key);
        default:
          Fail("{}: byte offset {}: metadata \"{}\" is {}, expected an integer", path, type_at,
               Printable(key), TypeName(type));
      }
    };
    // llama.cpp writes -1 for "no such token", which as a u32 reads 4294967295.
    auto token_id = [&](int* out) {
      int64_t id = integer();
      if (type == kU32 && id == UINT32_MAX) id = -1;
      if (id < -1 || id > INT32_MAX) {
        Fail("{}: byte offset {}: metadata \"{}\" is {}, not a token id", path, type_at,
             Printable(key), id);
      }
      *out = static_cast<int>(id);
    };
    auto boolean = [&](std::optional<bool>* out) {
      expect(kBool);
      *out = gguf::ReadBool(r, key);
    };
    // The header of an array of `elem` elements; its count is checked against the bytes left.
    auto array = [&](uint32_t want_elem) -> uint64_t {
      expect(kArray);
      const size_t at = r.offset();
      const uint32_t elem = r.Read<uint32_t>("an array element type");
      if (elem != want_elem) {
        Fail("{}: byte offset {}: metadata \"{}\" is an array of {}, expected {}", path, at,
             Printable(key), TypeName(elem), TypeName(want_elem));
      }
      const uint64_t count = r.Read<uint64_t>("an array count");
      if (count > static_cast<uint64_t>(kMaxVocabSize)) {
        Fail("{}: byte offset {}: metadata \"{}\" declares {} elements, expected at most {}", path,
             at + 4, Printable(key), count, kMaxVocabSize);
      }
      const uint64_t min_size = elem == kString ? 8 : ScalarSize(elem);
      if (count > r.left() / min_size) {
        Fail(
            "{}: byte offset {}: metadata \"{}\" declares {} elements, more than the {} bytes "
            "left can hold",
            path, at + 4, Printable(key), count, r.left());
      }
      return count;
    };
    auto strings = [&](std::vector<std::string>* out) {
      const uint64_t n = array(kString);
      out->reserve(n);
      for (uint64_t k = 0; k < n; ++k) out->emplace_back(r.String(key, r.left()));
    };

    if (key == "tokenizer.ggml.model") {
      expect(kString);
      v.model = r.String(key, kMaxKeyLength);
    } else if (key == "tokenizer.ggml.pre") {
      expect(kString);
      v.pre = r.String(key, kMaxKeyLength);
    } else if (key == "tokenizer.ggml.tokens") {
      strings(&v.tokens);
    } else if (key == "tokenizer.ggml.merges") {
      strings(&v.merges);
    } else if (key == "tokenizer.ggml.scores") {
      const uint64_t n = array(kF32);
      v.scores.resize(n);
      r.Need(n * 4, key);
      for (uint64_t k = 0; k < n; ++k) v.scores[k] = r.Read<float>(key);
    } else if (key == "tokenizer.ggml.token_type") {
      const uint64_t n = array(kI32);
      v.token_types.resize(n);
      for (uint64_t k = 0; k < n; ++k) v.token_types[k] = r.Read<int32_t>(key);
    } else if (key == "tokenizer.ggml.precompiled_charsmap") {
      const size_t at = r.offset();
      expect(kArray);
      const uint32_t elem = r.Read<uint32_t>("an array element type");
      if (elem != kU8 && elem != kI8) {
        Fail("{}: byte offset {}: metadata \"{}\" is an array of {}, expected bytes", path, at,
             Printable(key), TypeName(elem));
      }
      const uint64_t n = r.Read<uint64_t>("an array count");
      r.Need(n, key);
      v.precompiled_charsmap.resize(n);
      for (uint64_t k = 0; k < n; ++k) v.precompiled_charsmap[k] = r.Read<char>(key);
    } else if (key == "tokenizer.ggml.bos_token_id") {
      token_id(&v.bos_id);
    } else if (key == "tokenizer.ggml.eos_token_id") {
      token_id(&v.eos_id);
    } else if (key == "tokenizer.ggml.unknown_token_id") {
      token_id(&v.unk_id);
    } else if (key == "tokenizer.ggml.seperator_token_id" ||
               key == "tokenizer.ggml.separator_token_id") {
      token_id(&v.sep_id);
    } else if (key == "tokenizer.ggml.padding_token_id") {
      token_id(&v.pad_id);
    } else if (key == "tokenizer.ggml.cls_token_id") {
      token_id(&v.cls_id);
    } else if (key == "tokenizer.ggml.mask_token_id") {
      token_id(&v.mask_id);
    } else if (key == "tokenizer.ggml.add_bos_token") {
      boolean(&v.add_bos);
    } else if (key == "tokenizer.ggml.add_eos_token") {
      boolean(&v.add_eos);
    } else if (key == "tokenizer.ggml.add_space_prefix") {
      boolean(&v.add_space_prefix);
    } else if (key == "tokenizer.ggml.remove_extra_whitespaces") {
      boolean(&v.remove_extra_whitespaces);
    } else {
      gguf::SkipValue(r, type, key);
    }
  }
  if (v.tokens.empty()) Fail("{}: no tokenizer.ggml.tokens; not a GGUF with a vocab", path);
  const size_t n = v.tokens.size();
  if (!v.scores.empty() && v.scores.size() != n) {
    Fail("{}: {} tokens but {} tokenizer.ggml.scores", path, n, v.scores.size());
  }
  if (!v.token_types.empty() && v.token_types.size() != n) {
    Fail("{}: {} tokens but {} tokenizer.ggml.token_type", path, n, v.token_types.size());
  }
  for (int* id : {&v.bos_id, &v.eos_id, &v.unk_id, &v.sep_id, &v.pad_id, &v.cls_id, &v.mask_id}) {
    if (*id >= static_cast<int>(n)) {
      Fail("{}: special token id {} is outside the vocab of {} tokens", path, *id, n);
    }
  }
  return v;
}

namespace {

std::unique_ptr<Tokenizer> MakeSpm(const GgufVocab& v) {
  SentencePieceSpec spec;
  spec.algorithm = SentencePieceSpec::Algorithm::kBpe;
  const size_t n = v.tokens.size();
  spec.pieces = v.tokens;
  spec.scores = v.scores.empty() ? std::vector<float>(n, 0.0f) : v.scores;
  spec.types.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = v.token_types.empty() ? 1 : v.token_types[i];
    if (t < 1 || t > 6) Fail("{}: token {} has type {}, expected 1..6", v.path, i, t);
    spec.types[i] = static_cast<SpmPieceType>(t);
    if (t == 6) spec.byte_fallback = true;
  }
  // llama.cpp takes the unknown token from its id, whatever its type says.
  if (v.unk_id >= 0) {
    for (auto& t : spec.types) {
      if (t == SpmPieceType::kUnknown) t = SpmPieceType::kControl;
    }
    spec.types[v.unk_id] = SpmPieceType::kUnknown;
  }
  spec.normalizer.add_dummy_prefix = v.add_space_prefix.value_or(true);
  spec.normalizer.remove_extra_whitespaces = v.remove_extra_whitespaces.value_or(false);
  spec.normalizer.precompiled_charsmap = v.precompiled_charsmap;
  spec.bos_id = v.bos_id;
  spec.eos_id = v.eos_id;
  return std::make_unique<SentencePieceTokenizer>(std::move(spec), v.path);
}

std::unique_ptr<Tokenizer> MakeBert(const GgufVocab& v) {
  // llama.cpp's converter stores BERT vocabs in "phantom space" form: a
  // word-initial piece gains a leading "▁", a "##" continuation loses its
  // prefix, "[SPECIAL]" tokens stay. Undo it.
  constexpr std::string_view kSpace = "\xe2\x96\x81";
  WordPieceSpec spec;
  spec.vocab.reserve(v.tokens.size());
  bool has_upper = false;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const std::string& t = v.tokens[i];
    const bool special = t.size() >= 2 && t.front() == '[' && t.back() == ']';
    if (special) {
      spec.vocab.push_back(t);
    } else if (t.compare(0, kSpace.size(), kSpace) == 0) {
      spec.vocab.push_back(t.substr(kSpace.size()));
    } else {
      spec.vocab.push_back("##" + t);
    }
    if (!special) {
      for (char c : t) has_upper |= c >= 'A' && c <= 'Z';
    }
    if (special && !v.token_types.empty() && v.token_types[i] == 3) {
      spec.special_tokens.emplace_back(static_cast<int>(i), t);
    }
  }
  if (v.unk_id >= 0) spec.unk_token = spec.vocab[v.unk_id];
  spec.cls_id = v.cls_id >= 0 ? v.cls_id : v.bos_id;
  spec.sep_id = v.sep_id >= 0 ? v.sep_id : v.eos_id;
  // GGUF does not record do_lower_case; an uncased vocab has no capitals.
  spec.lowercase = !has_upper;
  spec.strip_accents = spec.lowercase;
  return std::make_unique<WordPieceTokenizer>(std::move(spec), v.path);
}

// llama.cpp's regex lists for the tokenizer.ggml.pre names whose Hugging Face
// pre-tokenizer is a Sequence of Splits (llama-vocab.cpp). Where llama.cpp
// spells GPT-2's regex without its last "|\s+", kGpt2Pattern stands in: with
// the gaps kept, the pieces are the same, and it runs by hand.
const std::vector<std::string>* SplitChain(const std::string& pre) {
  // Code points that Unicode normalization would change are escaped.
  static const std::string kDeepseekLetters =
      R"(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)";
  static const std::string kCjk = "[一-龥ࠀ-一가-퟿]+";
  static const std::string kGpt2(kGpt2Pattern);
  static const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> kChains =
      {
          {{"deepseek-llm"},
           {"[\r\n]", kDeepseekLetters, R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)", R"(\s+$)", kCjk,
            R"(\p{N}+)"}},
          {{"deepseek-coder"}, {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"}},
          {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}},
          {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone"},
           {R"(\p{N})", kGpt2}},
      };
  for (const auto& [names, chain] : kChains) {
    for (const std::string& name : names) {
      if (name == pre) return &chain;
    }
  }
  return nullptr;
}

// A "gpt2" vocab is byte-level BPE; tokenizer.ggml.pre names its
// pre-tokenizer, as llama.cpp's converter recorded it from the model's
// tokenizer.json. Control tokens (type 3) are special added tokens, user-defined
// ones (type 4, stored as plain text) are added tokens matched everywhere.
std::unique_ptr<Tokenizer> MakeGpt2(const GgufVocab& v) {
  ByteLevelBpeSource source;
  source.where = v.path;
  if (v.pre.empty() || v.pre == "default" || v.pre == "gpt-2" || v.pre == "mpt") {
    // GPT-2, and GPT-NeoX/MPT whose ByteLevel pre-tokenizer runs GPT-2's regex
    // (the GPT-NeoX vocab has no tokenizer.ggml.pre).
    source.patterns = {std::string(kGpt2Pattern)};
  } else if (v.pre == "llama-bpe" || v.pre == "llama3") {
    source.patterns = {std::string(kCl100kPattern)};
    source.ignore_merges = true;
  } else if (const std::vector<std::string>* chain = SplitChain(v.pre)) {
    source.patterns = *chain;
  } else {
    Fail(
        "{}: tokenizer.ggml.pre is \"{}\"; this loader knows the byte-level pre-tokenizers "
        "gpt-2, mpt, llama-bpe, deepseek-llm, deepseek-coder, falcon, starcoder, refact, "
        "command-r, smollm, codeshell, exaone and GPT-NeoX's (none)",
        v.path, EscapeControlBytes(v.pre));
  }
  if (v.merges.empty()) Fail("{}: a gpt2 vocab without tokenizer.ggml.merges", v.path);
  source.tokens = v.tokens;
  source.merges = v.merges;
  for (size_t i = 0; i < v.token_types.size(); ++i) {
    const int32_t t = v.token_types[i];
    if (t < 1 || t > 6) Fail("{}: token {} has type {}, expected 1..6", v.path, i, t);
    if (t == 3 || t == 4) {
      AddedToken added;
      added.id = static_cast<int>(i);
      added.special = t == 3;
      source.added.push_back(added);
    }
  }
  source.bos = v.bos_id;
  source.eos = v.eos_id;
  return MakeByteLevelBpe(std::move(source));
}

}  // namespace

std::unique_ptr<Tokenizer> MakeGgufTokenizer(const GgufVocab& vocab) {
  if (vocab.model == "llama") return MakeSpm(vocab);
  if (vocab.model == "bert") return MakeBert(vocab);
  if (vocab.model == "gpt2") return MakeGpt2(vocab);
  Fail(
      "{}: tokenizer.ggml.model is \"{}\"; this loader builds \"llama\" (SentencePiece), "
      "\"bert\" (WordPiece) and \"gpt2\" (byte-level BPE) vocabs",
      vocab.path, vocab.model);
}

std::unique_ptr<Tokenizer> LoadGgufTokenizer(const std::string& path) {
  return MakeGgufTokenizer(ReadGgufVocab(path));
}

}  // namespace lmc::rt
