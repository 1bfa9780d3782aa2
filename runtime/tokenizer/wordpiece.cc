#include "runtime/tokenizer/wordpiece.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/tokenizer/sentencepiece_tables.h"
#include "runtime/util/error.h"
#include "runtime/util/output_file.h"

namespace lmc::rt {
namespace {

struct CodepointRange {
  uint32_t lo;
  uint32_t hi;
};
struct CodepointMapping {
  uint32_t cp;
  uint32_t offset;  // Into kMappingData.
  uint32_t length;
};

#include "runtime/tokenizer/wordpiece_unicode_data.inc"

template <size_t N>
bool InRanges(const CodepointRange (&ranges)[N], uint32_t cp) {
  const auto* it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                                    [](uint32_t c, const CodepointRange& r) { return c < r.lo; });
  return it != std::begin(ranges) && cp <= (it - 1)->hi;
}

template <size_t N>
const CodepointMapping* FindMapping(const CodepointMapping (&map)[N], uint32_t cp) {
  const auto* it = std::lower_bound(std::begin(map), std::end(map), cp,
                                    [](const CodepointMapping& m, uint32_t c) { return m.cp < c; });
  return it != std::end(map) && it->cp == cp ? it : nullptr;
}

// Rust's char::is_whitespace (the White_Space property).
bool IsWhitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}
// General category C* except the tab, newline and carriage return BERT keeps.
bool IsControl(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return InRanges(kOtherRanges, c);
}
bool IsPunctuation(uint32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  return InRanges(kPunctuationRanges, c);
}
bool IsChinese(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Appends the canonical decomposition of `c` (NFD of one character).
void Decompose(uint32_t c, std::u32string* out) {
  constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
  constexpr uint32_t kTCount = 28, kNCount = 588, kSCount = 11172;
  if (c >= kSBase && c < kSBase + kSCount) {
    const uint32_t s = c - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  if (c >= 0xC0) {
    if (const CodepointMapping* m = FindMapping(kDecompositions, c)) {
      out->append(kMappingData + m->offset, m->length);
      return;
    }
  }
  out->push_back(c);
}

void Lowercase(uint32_t c, std::u32string* out) {
  if (c < 0x80) {
    out->push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  if (const CodepointMapping* m = FindMapping(kLowercase, c)) {
    out->append(kMappingData + m->offset, m->length);
    return;
  }
  out->push_back(c);
}

// Decodes UTF-8, each malformed sequence becoming U+FFFD.
std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((b & 0xE0) == 0xC0) {
      len = 2, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, cp = b & 0x07, min = 0x10000;
    }
    size_t k = 1;
    while (len > 0 && k < len && i + k < n && (p[i + k] & 0xC0) == 0x80) {
      cp = (cp << 6) | (p[i + k] & 0x3F);
      ++k;
    }
    if (len == 0 || k < len || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(0xFFFD);
      i += std::max<size_t>(1, len == 0 ? 1 : k);
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void AppendUtf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::u32string NormalizeCodepoints(const WordPieceSpec& spec, std::string_view text) {
  std::u32string cps = DecodeUtf8(text);
  std::u32string next;
  if (spec.clean_text || spec.handle_chinese_chars) {
    next.reserve(cps.size());
    for (const char32_t c : cps) {
      if (spec.clean_text) {
        if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
        if (IsWhitespace(c)) {
          next.push_back(' ');
          continue;
        }
      }
      if (spec.handle_chinese_chars && IsChinese(c)) {
        next.push_back(' ');
        next.push_back(c);
        next.push_back(' ');
      } else {
        next.push_back(c);
      }
    }
    cps.swap(next);
  }
  if (spec.strip_accents) {
    next.clear();
    std::u32string d;
    for (const char32_t c : cps) {
      d.clear();
      Decompose(c, &d);
      for (const char32_t x : d) {
        if (x >= 0x300 && InRanges(kNonspacingMarkRanges, x)) continue;
        next.push_back(x);
      }
    }
    cps.swap(next);
  }
  if (spec.lowercase) {
    next.clear();
    for (const char32_t c : cps) Lowercase(c, &next);
    cps.swap(next);
  }
  return cps;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(WordPieceSpec spec, std::string path)
    : spec_(std::move(spec)), path_(std::move(path)) {
  const std::string& prefix = spec_.continuing_prefix;
  words_.Reserve(spec_.vocab.size());
  for (size_t i = 0; i < spec_.vocab.size(); ++i) {
    const std::string& t = spec_.vocab[i];
    const int id = static_cast<int>(i);
    words_.Insert(t, id);
    if (!prefix.empty() && t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0) {
      continuations_.Insert(std::string_view(t).substr(prefix.size()), id);
    }
  }
  unk_ = words_.Find(spec_.unk_token);
  if (unk_ < 0)
    Fail("{}: the unknown token \"{}\" is not in the vocab", path_, Printable(spec_.unk_token));
  for (const auto& [id, content] : spec_.special_tokens) {
    if (!content.empty()) specials_.Insert(content, id);
  }
  if (spec_.max_input_chars_per_word <= 0) {
    Fail("{}: max_input_chars_per_word is {}, expected a positive count", path_,
         spec_.max_input_chars_per_word);
  }
}

std::string WordPieceTokenizer::Normalize(std::string_view text) const {
  std::string out;
  for (const char32_t c : NormalizeCodepoints(spec_, text)) AppendUtf8(c, &out);
  return out;
}

void WordPieceTokenizer::EncodeWord(std::string_view word, std::vector<int>* ids) const {
  // Characters in the word; over the limit it is one [UNK].
  size_t chars = 0;
  for (const char c : word) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (chars > static_cast<size_t>(spec_.max_input_chars_per_word)) {
    ids->push_back(unk_);
    return;
  }
  const size_t mark = ids->size();
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int found = -1;
    while (start < end) {
      const std::string_view sub = word.substr(start, end - start);
      found = start == 0 ? words_.Find(sub) : continuations_.Find(sub);
      if (found >= 0) break;
      // Back off one character.
      --end;
      while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;
    }
    if (found < 0) {
      ids->resize(mark);
      ids->push_back(unk_);
      return;
    }
    ids->push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::EncodeText(std::string_view text, std::vector<int>* ids) const {
  const std::u32string cps = NormalizeCodepoints(spec_, text);
  std::string word;
  auto flush = [&] {
    if (!word.empty()) EncodeWord(word, ids);
    word.clear();
  };
  for (const char32_t c : cps) {
    if (IsWhitespace(c)) {
      flush();
    } else if (IsPunctuation(c)) {
      flush();
      AppendUtf8(c, &word);
      flush();
    } else {
      AppendUtf8(c, &word);
    }
  }
  flush();
}

std::vector<int> WordPieceTokenizer::Encode(std::string_view text,
                                            const EncodeOptions& options) const {
  std::vector<int> ids;
  if (options.add_bos && spec_.cls_id >= 0) ids.push_back(spec_.cls_id);
  if (!options.parse_special || specials_.empty()) {
    EncodeText(text, &ids);
  } else {
    size_t start = 0;
    for (size_t pos = 0; pos < text.size();) {
      int id = -1;
      const size_t len = specials_.LongestPrefix(text.substr(pos), &id);
      if (len == 0) {
        ++pos;
        continue;
      }
      EncodeText(text.substr(start, pos - start), &ids);
      ids.push_back(id);
      pos += len;
      start = pos;
    }
    EncodeText(text.substr(start), &ids);
  }
  if (options.add_eos && spec_.sep_id >= 0) ids.push_back(spec_.sep_id);
  return ids;
}

std::string WordPieceTokenizer::Decode(std::span<const int> ids) const {
  std::vector<bool> special(spec_.vocab.size(), false);
  for (const auto& [id, content] : spec_.special_tokens) special[id] = true;
  std::string out;
  bool first = true;
  const std::string& prefix = spec_.continuing_prefix;
  for (const int id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= spec_.vocab.size()) {
      Fail("{}: cannot decode token id {}: the vocab has {} tokens", path_, id, spec_.vocab.size());
    }
    if (special[id]) continue;
    std::string token = spec_.vocab[id];
    if (!first) {
      if (!prefix.empty() && token.compare(0, prefix.size(), prefix) == 0) {
        token.erase(0, prefix.size());
      } else {
        token = std::string(1, ' ').append(token);
      }
    }
    first = false;
    // The WordPiece decoder's cleanup, replacement by replacement.
    static const std::pair<std::string_view, std::string_view> kCleanup[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kCleanup) {
      for (size_t at = token.find(from); at != std::string::npos;
           at = token.find(from, at + to.size())) {
        token.replace(at, from.size(), to);
      }
    }
    out += token;
  }
  return out;
}

namespace {

const nlohmann::json& Field(const nlohmann::json& obj, const char* key, const std::string& path,
                            const char* where) {
  if (!obj.is_object() || !obj.contains(key)) Fail("{}: {} has no \"{}\"", path, where, key);
  return obj.at(key);
}

}  // namespace

std::unique_ptr<Tokenizer> LoadWordPiece(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot open the tokenizer.json", path);
  NoteInput(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    Fail("{}: byte offset {}: not valid JSON: {}", path, e.byte, e.what());
  }
  try {
    const nlohmann::json& model = Field(j, "model", path, "the tokenizer.json");
    const std::string type = model.value("type", "");
    if (type != "WordPiece") {
      Fail("{}: model.type is \"{}\", expected \"WordPiece\"", path, type);
    }
    WordPieceSpec spec;
    const nlohmann::json& vocab = Field(model, "vocab", path, "model");
    if (!vocab.is_object() || vocab.empty()) {
      Fail("{}: model.vocab must be a non-empty object of token: id", path);
    }
    const size_t n = vocab.size();
    spec.vocab.assign(n, std::string());
    std::vector<bool> seen(n, false);
    for (const auto& [token, id_json] : vocab.items()) {
      if (!id_json.is_number_integer()) {
        Fail("{}: model.vocab[\"{}\"] is not an integer id", path, Printable(token));
      }
      const int64_t id = id_json.get<int64_t>();
      if (id < 0 || static_cast<uint64_t>(id) >= n || seen[id]) {
        Fail("{}: model.vocab[\"{}\"] = {}: ids must be 0..{} without repeats", path,
             Printable(token), id, n - 1);
      }
      seen[id] = true;
      spec.vocab[id] = token;
    }
    spec.unk_token = model.value("unk_token", "[UNK]");
    spec.continuing_prefix = model.value("continuing_subword_prefix", "##");
    spec.max_input_chars_per_word = model.value("max_input_chars_per_word", 100);

    const nlohmann::json& norm = j.contains("normalizer") ? j["normalizer"] : nlohmann::json();
    if (norm.is_null()) {
      spec.lowercase = spec.strip_accents = spec.clean_text = spec.handle_chinese_chars = false;
    } else if (norm.value("type", "") == "BertNormalizer") {
      spec.clean_text = norm.value("clean_text", true);
      spec.handle_chinese_chars = norm.value("handle_chinese_chars", true);
      spec.lowercase = norm.value("lowercase", true);
      const auto sa = norm.find("strip_accents");
      spec.strip_accents = sa == norm.end() || sa->is_null() ? spec.lowercase : sa->get<bool>();
    } else {
      Fail("{}: normalizer type \"{}\" is not supported with WordPiece; expected BertNormalizer",
           path, norm.value("type", ""));
    }
    const nlohmann::json& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
    if (!pre.is_null() && pre.value("type", "") != "BertPreTokenizer") {
      Fail(
          "{}: pre_tokenizer type \"{}\" is not supported with WordPiece; expected "
          "BertPreTokenizer",
          path, pre.value("type", ""));
    }

    auto id_of = [&](const std::string& token) {
      const auto it = vocab.find(token);
      return it == vocab.end() ? -1 : it->get<int>();
    };
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& t : j["added_tokens"]) {
        const int id = t.value("id", -1);
        const std::string content = t.value("content", "");
        if (id < 0 || static_cast<size_t>(id) >= n) {
          Fail("{}: added token \"{}\" has id {}, outside the vocab of {}", path,
               Printable(content), id, n);
        }
        spec.special_tokens.emplace_back(id, content);
      }
    }
    // [CLS] and [SEP] as the post-processor names them, else by their usual names.
    spec.cls_id = id_of("[CLS]");
    spec.sep_id = id_of("[SEP]");
    if (j.contains("post_processor") && j["post_processor"].is_object()) {
      const nlohmann::json& pp = j["post_processor"];
      if (pp.value("type", "") == "BertProcessing") {
        spec.cls_id = pp.at("cls").at(1).get<int>();
        spec.sep_id = pp.at("sep").at(1).get<int>();
      }
    }
    for (int id : {spec.cls_id, spec.sep_id}) {
      if (id >= static_cast<int>(n)) Fail("{}: special id {} is outside the vocab", path, id);
    }
    return std::make_unique<WordPieceTokenizer>(std::move(spec), path);
  } catch (const nlohmann::json::exception& e) {
    Fail("{}: unexpected tokenizer.json layout: {}", path, e.what());
  }
}

}  // namespace lmc::rt
