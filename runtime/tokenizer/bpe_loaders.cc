// Loaders of the byte-level BPE files: tiktoken rank files, GPT-2's
// encoder.json + vocab.bpe, Hugging Face tokenizer.json.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "runtime/tokenizer/bpe.h"
#include "runtime/util/error.h"
#include "runtime/util/output_file.h"

namespace lmc::rt {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) Fail("{}: is a folder, expected a file", path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) Fail("{}: cannot read: {}", path, std::strerror(errno));
  NoteInput(path);
  std::streamoff size = in.tellg();
  if (size < 0) Fail("{}: cannot read: not a regular file", path);
  std::string data(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(data.data(), static_cast<std::streamsize>(data.size()))) {
    Fail("{}: read error: {}", path, std::strerror(errno));
  }
  return data;
}

// A short, printable excerpt of `s` for error messages.
std::string Excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7F) ? std::string(1, c) : fmt::format("\\x{:02x}", u);
  }
  if (s.size() > 40) out += "...";
  return out;
}

json ParseJson(const std::string& path) {
  std::string text = ReadFile(path);
  if (text.empty()) Fail("{}: empty file, expected JSON", path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    std::string what = e.what();
    size_t bracket = what.find("] ");
    Fail("{}: invalid JSON (truncated?): {}", path,
         bracket == std::string::npos ? what : what.substr(bracket + 2));
  }
}

// A tokenizer.json parsed with model.vocab and model.merges streamed into flat
// lists instead of JSON objects (a third of the load time for Llama 3's 9 MB);
// the rest becomes a JSON document where those two are left empty.
struct HuggingFaceJson {
  json doc;
  bool has_vocab = false, has_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;
  // Each merge as given: "left right" in `first` (second empty), or a pair.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<bool> merge_is_pair;
  std::string error;  // The first malformed vocab/merges entry.
};

class HuggingFaceSax {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit HuggingFaceSax(HuggingFaceJson* out) : out_(out), dom_(out->doc) {}

  bool null() { return Value("null") && dom_.null(); }
  bool boolean(bool v) { return Value("a boolean") && dom_.boolean(v); }
  bool number_integer(number_integer_t v) {
    if (mode_ == kVocab) return Id(v);
    return Value("a number") && dom_.number_integer(v);
  }
  bool number_unsigned(number_unsigned_t v) {
    if (mode_ == kVocab) return Id(static_cast<int64_t>(std::min<number_unsigned_t>(v, INT64_MAX)));
    return Value("a number") && dom_.number_unsigned(v);
  }
  bool number_float(number_float_t v, const string_t& s) {
    return Value("a number") && dom_.number_float(v, s);
  }
  bool binary(binary_t& v) { return Value("binary") && dom_.binary(v); }
  bool string(string_t& v) {
    if (mode_ == kMerges) {
      if (merge_depth_ == 0) {
        out_->merges.emplace_back(std::move(v), std::string());
        out_->merge_is_pair.push_back(false);
      } else if (pair_size_++ == 0) {
        out_->merges.back().first = std::move(v);
      } else {
        out_->merges.back().second = std::move(v);
      }
      return true;
    }
    return Value("a string") && dom_.string(v);
  }
  bool key(string_t& k) {
    if (mode_ == kVocab) {
      key_ = std::move(k);
      return true;
    }
    if (!stack_.empty()) stack_.back() = k;
    return dom_.key(k);
  }
  bool start_object(std::size_t n) {
    if (mode_ != kNone) return Bad("an object");
    if (AtModelKey("vocab")) {
      mode_ = kVocab;
      out_->has_vocab = true;
      return dom_.start_object(0);
    }
    stack_.emplace_back();
    return dom_.start_object(n);
  }
  bool end_object() {
    if (mode_ == kVocab) {
      mode_ = kNone;
      return dom_.end_object();
    }
    stack_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (mode_ == kMerges) {
      if (merge_depth_ > 0) return Bad("a nested array");
      merge_depth_ = 1;
      pair_size_ = 0;
      out_->merges.emplace_back();
      out_->merge_is_pair.push_back(true);
      return true;
    }
    if (mode_ != kNone) return Bad("an array");
    if (AtModelKey("merges")) {
      mode_ = kMerges;
      out_->has_merges = true;
      return dom_.start_array(0);
    }
    stack_.emplace_back();
    return dom_.start_array(n);
  }
  bool end_array() {
    if (mode_ == kMerges) {
      if (merge_depth_ == 1) {
        merge_depth_ = 0;
        if (pair_size_ != 2) return Bad("a list that is not a pair of strings");
        return true;
      }
      mode_ = kNone;
      return dom_.end_array();
    }
    stack_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& e) {
    return dom_.parse_error(position, token, e);
  }

 private:
  enum Mode { kNone, kVocab, kMerges };

  // The container about to open is the value of model.<name>.
  bool AtModelKey(const char* name) const {
    return stack_.size() == 2 && stack_[0] == "model" && stack_[1] == name;
  }
  bool Id(int64_t v) {
    out_->vocab.emplace_back(std::move(key_), v);
    return true;
  }
  bool Value(const char* what) { return mode_ == kNone ? true : Bad(what); }
  bool Bad(const char* what) {
    if (mode_ == kVocab) {
      out_->error = fmt::format("model.vocab: token '{}' has {} for its id, expected an integer",
                                Excerpt(key_), what);
    } else {
      out_->error = fmt::format("model.merges[{}]: {}, expected a string or a pair of strings",
                                out_->merges.size() - (merge_depth_ ? 1 : 0), what);
    }
    return false;  // Stops the parse.
  }

  HuggingFaceJson* out_;
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<std::string> stack_;  // The key being read in each open container.
  Mode mode_ = kNone;
  std::string key_;
  int merge_depth_ = 0, pair_size_ = 0;
};

HuggingFaceJson ParseHuggingFaceJson(const std::string& path) {
  std::string text = ReadFile(path);
  if (text.empty()) Fail("{}: empty file, expected JSON", path);
  HuggingFaceJson out;
  HuggingFaceSax sax(&out);
  bool ok;
  try {
    ok = json::sax_parse(text, &sax);
  } catch (const json::exception& e) {
    std::string what = e.what();
    size_t bracket = what.find("] ");
    Fail("{}: invalid JSON (truncated?): {}", path,
         bracket == std::string::npos ? what : what.substr(bracket + 2));
  }
  if (!out.error.empty()) Fail("{}: {}", path, out.error);
  if (!ok) Fail("{}: invalid JSON", path);
  return out;
}

// ---------------------------------------------------------------- tiktoken

int Base64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool DecodeBase64(std::string_view in, std::string* out) {
  out->clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false;  // Data after '='.
      v[k] = Base64Value(c);
      if (v[k] < 0) return false;
    }
    uint32_t triple = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out->push_back(static_cast<char>(triple >> 16));
    if (pad < 2) out->push_back(static_cast<char>((triple >> 8) & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(triple & 0xFF));
  }
  return true;
}

struct TiktokenEncoding {
  std::string_view name;
  std::string_view pattern;
  size_t ranks;  // Lines in the official file; 0 = not checked.
  std::vector<std::pair<std::string, int>> specials;
  bool endoftext_is_bos;  // GPT-2 family: <|endoftext|> also starts a text.
};

const std::vector<TiktokenEncoding>& TiktokenEncodings() {
  static const std::vector<TiktokenEncoding> encodings = {
      {"cl100k_base",
       kCl100kPattern,
       100256,
       {{"<|endoftext|>", 100257},
        {"<|fim_prefix|>", 100258},
        {"<|fim_middle|>", 100259},
        {"<|fim_suffix|>", 100260},
        {"<|endofprompt|>", 100276}},
       false},
      {"o200k_base",
       kO200kPattern,
       199998,
       {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}},
       false},
      {"r50k_base", kGpt2Pattern, 50256, {{"<|endoftext|>", 50256}}, true},
      {"gpt2", kGpt2Pattern, 50256, {{"<|endoftext|>", 50256}}, true},
      {"p50k_base", kGpt2Pattern, 0, {{"<|endoftext|>", 50256}}, true},
      {"p50k_edit",
       kGpt2Pattern,
       0,
       {{"<|endoftext|>", 50256},
        {"<|fim_prefix|>", 50281},
        {"<|fim_middle|>", 50282},
        {"<|fim_suffix|>", 50283}},
       true},
  };
  return encodings;
}

// ---------------------------------------------------------------- GPT-2 / HF shared

// Vocabulary of byte-level token strings (as in encoder.json / vocab.json).
struct ByteLevelVocab {
  BytesMap ids;  // Token string -> id.
  std::string scratch;
  BpeSpec spec;
};

void ReadByteLevelVocab(const std::vector<std::pair<std::string, int64_t>>& vocab,
                        const std::string& where, ByteLevelVocab* v) {
  int max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0 || id >= kMaxVocabSize) {
      Fail("{}: token '{}' has id {}, expected an integer in [0, {})", where, Excerpt(token), id,
           kMaxVocabSize);
    }
    max_id = std::max(max_id, static_cast<int>(id));
  }
  v->ids.Reserve(vocab.size());
  v->spec.tokens.resize(max_id + 1);
  v->spec.has_bytes.assign(max_id + 1, false);
  std::vector<bool> seen(max_id + 1, false);
  for (const auto& [token, id] : vocab) {
    if (seen[id]) Fail("{}: id {} is given to two tokens (one is '{}')", where, id, Excerpt(token));
    seen[id] = true;
    if (!v->ids.Insert(token, static_cast<int>(id))) {
      Fail("{}: token '{}' appears twice", where, Excerpt(token));
    }
    if (auto bytes = ByteLevelDecode(token)) {
      v->spec.tokens[id] = std::move(*bytes);
      v->spec.has_bytes[id] = true;
    } else {
      v->spec.tokens[id] = token;  // Not byte-level: decodes as written.
    }
  }
}

void ReadByteLevelVocab(const json& vocab, const std::string& where, ByteLevelVocab* v) {
  if (!vocab.is_object()) Fail("{}: expected a JSON object of token -> id", where);
  std::vector<std::pair<std::string, int64_t>> list;
  list.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) {
      Fail("{}: token '{}' has id {}, expected an integer in [0, {})", where, Excerpt(it.key()),
           it.value().dump(), kMaxVocabSize);
    }
    list.emplace_back(it.key(), it.value().get<int64_t>());
  }
  ReadByteLevelVocab(list, where, v);
}

int MergeTokenId(const ByteLevelVocab& v, std::string_view token, const std::string& where) {
  int id = v.ids.Find(token);
  if (id < 0) Fail("{}: merge uses '{}', which is not in the vocabulary", where, Excerpt(token));
  return id;
}

void AddMerge(ByteLevelVocab* v, std::string_view left, std::string_view right,
              const std::string& where) {
  int l = MergeTokenId(*v, left, where), r = MergeTokenId(*v, right, where);
  v->scratch.assign(left);
  v->scratch.append(right);
  int merged = v->ids.Find(v->scratch);
  if (merged < 0) {
    Fail("{}: merge '{} {}' makes a token that is not in the vocabulary", where, Excerpt(left),
         Excerpt(right));
  }
  v->spec.merges.push_back({l, r, merged});
}

}  // namespace

// ---------------------------------------------------------------- loaders

std::unique_ptr<BpeTokenizer> LoadTiktoken(const std::string& path, const std::string& pattern) {
  std::string stem = fs::path(path).stem().string();
  const TiktokenEncoding* known = nullptr;
  for (const auto& e : TiktokenEncodings()) {
    if (stem == e.name) known = &e;
  }
  if (known == nullptr && pattern.empty()) {
    Fail(
        "{}: unknown tiktoken encoding '{}' (known: cl100k_base, o200k_base, r50k_base, "
        "p50k_base, p50k_edit, gpt2); name the file after its encoding or pass --pattern REGEX",
        path, stem);
  }
  std::string data = ReadFile(path);
  if (data.empty()) Fail("{}: empty rank file", path);
  if (data.back() != '\n') Fail("{}: the last line has no newline (truncated?)", path);

  BpeSpec spec;
  spec.path = path;
  spec.merging = BpeSpec::Merging::kRanks;
  spec.whole_piece_first = true;
  spec.patterns = {pattern.empty() ? std::string(known->pattern) : pattern};
  std::vector<std::pair<std::string, int>> ranks;
  ranks.reserve(data.size() / 16);
  size_t pos = 0, line = 0;
  int max_rank = -1;
  std::string bytes;
  while (pos < data.size()) {
    ++line;
    size_t eol = data.find('\n', pos);
    std::string_view text(data.data() + pos, eol - pos);
    pos = eol + 1;
    size_t space = text.find(' ');
    if (space == std::string_view::npos || space + 1 >= text.size()) {
      Fail("{}:{}: expected 'base64-token rank', found '{}'", path, line, Excerpt(text));
    }
    if (!DecodeBase64(text.substr(0, space), &bytes)) {
      Fail("{}:{}: invalid base64 token '{}'", path, line, Excerpt(text.substr(0, space)));
    }
    int64_t rank = 0;
    for (char c : text.substr(space + 1)) {
      if (c < '0' || c > '9') {
        Fail("{}:{}: expected a non-negative integer rank, found '{}'", path, line,
             Excerpt(text.substr(space + 1)));
      }
      rank = rank * 10 + (c - '0');
      if (rank >= kMaxVocabSize) {
        Fail("{}:{}: rank {} is too large, expected below {}", path, line,
             Excerpt(text.substr(space + 1)), kMaxVocabSize);
      }
    }
    if (known != nullptr && known->ranks != 0 && rank != static_cast<int64_t>(line - 1)) {
      Fail("{}:{}: rank {} where {} expects {}", path, line, rank, known->name, line - 1);
    }
    max_rank = std::max(max_rank, static_cast<int>(rank));
    ranks.emplace_back(bytes, static_cast<int>(rank));
  }
  if (known != nullptr && known->ranks != 0 && ranks.size() != known->ranks) {
    Fail("{}: {} ranks, but {} has {} (truncated?)", path, ranks.size(), known->name, known->ranks);
  }
  int size = max_rank + 1;
  if (known != nullptr) {
    for (const auto& [text, id] : known->specials) {
      size = std::max(size, id + 1);
      spec.added.push_back({text, id, true});
      if (text == "<|endoftext|>") {
        spec.eos = id;
        if (known->endoftext_is_bos) spec.bos = id;
      }
    }
  }
  spec.tokens.resize(size);
  spec.has_bytes.assign(size, false);
  for (auto& [token, rank] : ranks) {
    if (spec.has_bytes[rank]) Fail("{}: rank {} is given to two tokens", path, rank);
    spec.tokens[rank] = std::move(token);
    spec.has_bytes[rank] = true;
  }
  for (const AddedToken& a : spec.added) {
    if (spec.has_bytes[a.id])
      Fail("{}: special token {} has rank {}, which a token in the file has", path, a.text, a.id);
  }
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

std::unique_ptr<BpeTokenizer> LoadGpt2Bpe(const std::string& path) {
  std::error_code ec;
  fs::path dir = fs::is_directory(path, ec) ? fs::path(path) : fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  auto pick = [&](const char* a, const char* b) -> std::string {
    if (fs::exists(dir / a, ec)) return (dir / a).string();
    if (fs::exists(dir / b, ec)) return (dir / b).string();
    Fail("{}: no {} or {} in {}", path, a, b, dir.string());
  };
  std::string encoder_path = pick("encoder.json", "vocab.json");
  std::string merges_path = pick("vocab.bpe", "merges.txt");

  ByteLevelVocab v;
  ReadByteLevelVocab(ParseJson(encoder_path), encoder_path, &v);
  std::string merges = ReadFile(merges_path);
  if (merges.empty()) Fail("{}: empty merges file", merges_path);
  size_t pos = 0, line = 0;
  while (pos < merges.size()) {
    ++line;
    size_t eol = merges.find('\n', pos);
    if (eol == std::string::npos) eol = merges.size();
    std::string_view text(merges.data() + pos, eol - pos);
    pos = eol + 1;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.empty() || (line == 1 && text.starts_with("#version"))) continue;
    size_t space = text.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 >= text.size() ||
        text.find(' ', space + 1) != std::string_view::npos) {
      Fail("{}:{}: expected two tokens separated by one space, found '{}'", merges_path, line,
           Excerpt(text));
    }
    AddMerge(&v, text.substr(0, space), text.substr(space + 1),
             fmt::format("{}:{}", merges_path, line));
  }
  // Every token but the 256 bytes and <|endoftext|> is made by a merge.
  int64_t expected = static_cast<int64_t>(v.ids.size()) - 256 - (v.ids.Find("<|endoftext|>") >= 0);
  if (static_cast<int64_t>(v.spec.merges.size()) < expected) {
    Fail("{}: {} merges for {} multi-byte tokens in {} (truncated?)", merges_path,
         v.spec.merges.size(), expected, encoder_path);
  }
  BpeSpec spec = std::move(v.spec);
  spec.path = path;
  spec.merging = BpeSpec::Merging::kMergeList;
  spec.whole_piece_first = false;
  spec.patterns = {std::string(kGpt2Pattern)};
  if (int id = v.ids.Find("<|endoftext|>"); id >= 0) {
    spec.added.push_back({"<|endoftext|>", id, true});
    spec.bos = spec.eos = id;
  }
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

std::unique_ptr<BpeTokenizer> MakeByteLevelBpe(ByteLevelBpeSource source) {
  // An added token's text is its string as stored, not byte-level characters:
  // DeepSeek's user-defined "ü" matches U+00FC in the text, not the byte 0xFC.
  for (AddedToken& a : source.added) {
    if (a.id < 0 || a.id >= static_cast<int>(source.tokens.size())) {
      Fail("{}: added token id {} is outside the vocabulary", source.where, a.id);
    }
    a.text = source.tokens[a.id];
  }
  ByteLevelVocab v;
  std::vector<std::pair<std::string, int64_t>> list;
  list.reserve(source.tokens.size());
  for (size_t id = 0; id < source.tokens.size(); ++id) {
    list.emplace_back(std::move(source.tokens[id]), static_cast<int64_t>(id));
  }
  ReadByteLevelVocab(list, source.where, &v);
  for (size_t i = 0; i < source.merges.size(); ++i) {
    std::string_view text = source.merges[i];
    size_t space = text.find(' ');
    std::string where = fmt::format("{}: merge {}", source.where, i);
    if (space == std::string_view::npos || space == 0 || space + 1 >= text.size() ||
        text.find(' ', space + 1) != std::string_view::npos) {
      Fail("{}: expected two tokens separated by one space, found '{}'", where, Excerpt(text));
    }
    AddMerge(&v, text.substr(0, space), text.substr(space + 1), where);
  }
  BpeSpec spec = std::move(v.spec);
  spec.path = source.where;
  spec.merging = BpeSpec::Merging::kMergeList;
  spec.whole_piece_first = source.ignore_merges;
  spec.patterns = std::move(source.patterns);
  spec.keep_gaps = true;  // As llama.cpp and Hugging Face's Split "Isolated" do.
  spec.added = std::move(source.added);
  spec.bos = source.bos;
  spec.eos = source.eos;
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

namespace {

// The token id a special-token reference names: "<s>" or {"content": "<s>"}.
int SpecialId(const json& ref, const std::vector<AddedToken>& added, const ByteLevelVocab& v) {
  std::string text;
  if (ref.is_string())
    text = ref.get<std::string>();
  else if (ref.is_object() && ref.contains("content") && ref["content"].is_string())
    text = ref["content"].get<std::string>();
  else
    return -1;
  for (const AddedToken& a : added) {
    if (a.text == text) return a.id;
  }
  return v.ids.Find(text);
}

std::string TypeOf(const json& j) {
  return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                      : "";
}

}  // namespace

std::unique_ptr<BpeTokenizer> LoadHuggingFaceBpe(const std::string& path,
                                                 const std::string& pattern) {
  std::error_code ec;
  std::string file =
      fs::is_directory(path, ec) ? (fs::path(path) / "tokenizer.json").string() : path;
  HuggingFaceJson parsed = ParseHuggingFaceJson(file);
  const json& j = parsed.doc;
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
    Fail("{}: not a Hugging Face tokenizer.json (no \"model\" object)", file);
  }
  const json& model = j["model"];
  std::string type = TypeOf(model);
  if (type.empty() && model.contains("merges")) type = "BPE";
  if (type != "BPE") {
    Fail("{}: model type '{}' is not supported yet (only byte-level BPE)", file, type);
  }
  auto flag = [&](const json& o, const char* key) {
    return o.contains(key) && o[key].is_boolean() && o[key].get<bool>();
  };
  auto nonempty = [&](const json& o, const char* key) {
    return o.contains(key) && !o[key].is_null() &&
           !(o[key].is_string() && o[key].get<std::string>().empty());
  };
  if (flag(model, "byte_fallback")) Fail("{}: BPE with byte_fallback is not supported yet", file);
  if (nonempty(model, "continuing_subword_prefix") || nonempty(model, "end_of_word_suffix")) {
    Fail("{}: BPE with a subword prefix/suffix is not supported yet", file);
  }
  if (model.contains("dropout") && model["dropout"].is_number() &&
      model["dropout"].get<double>() > 0) {
    Fail("{}: BPE dropout is not supported", file);
  }
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    Fail("{}: normalizer '{}' is not supported yet", file, TypeOf(j["normalizer"]));
  }

  // Pre-tokenizer: ByteLevel (GPT-2's regex), or a Sequence of Splits (Isolated)
  // and Digits ending in ByteLevel: each step cuts the pieces of the one before.
  BpeSpec pre;
  bool byte_level = false;
  std::vector<std::string> regexes;
  auto read_step = [&](const json& p) {
    std::string t = TypeOf(p);
    if (byte_level) {
      // ByteLevel maps bytes to characters; a regex after it would see those.
      Fail("{}: pre_tokenizer '{}' after ByteLevel is not supported", file, t);
    }
    if (t == "ByteLevel") {
      byte_level = true;
      pre.add_prefix_space = flag(p, "add_prefix_space");
      if (pre.add_prefix_space && !regexes.empty()) {
        // Hugging Face adds the space to every piece of the steps before.
        Fail("{}: ByteLevel add_prefix_space after a Split or Digits is not supported", file);
      }
      if (!p.contains("use_regex") || flag(p, "use_regex")) regexes.emplace_back(kGpt2Pattern);
    } else if (t == "Split") {
      if (!p.contains("pattern") || !p["pattern"].is_object() || !p["pattern"].contains("Regex") ||
          !p["pattern"]["Regex"].is_string()) {
        Fail("{}: pre_tokenizer Split needs a {{\"Regex\": ...}} pattern", file);
      }
      std::string behavior = p.value("behavior", "");
      if (behavior != "Isolated" || flag(p, "invert")) {
        Fail("{}: pre_tokenizer Split with behavior '{}'{} is not supported yet", file, behavior,
             flag(p, "invert") ? " inverted" : "");
      }
      regexes.push_back(p["pattern"]["Regex"].get<std::string>());
      pre.keep_gaps = true;
    } else if (t == "Digits") {
      // Rust's char::is_numeric is \p{N}.
      regexes.emplace_back(flag(p, "individual_digits") ? R"(\p{N})" : R"(\p{N}+)");
      pre.keep_gaps = true;
    } else {
      Fail("{}: pre_tokenizer '{}' is not supported yet", file, t);
    }
  };
  const json& pt = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json();
  if (TypeOf(pt) == "Sequence") {
    if (!pt.contains("pretokenizers") || !pt["pretokenizers"].is_array()) {
      Fail("{}: pre_tokenizer Sequence without a \"pretokenizers\" list", file);
    }
    for (const json& p : pt["pretokenizers"]) read_step(p);
  } else if (!pt.is_null()) {
    read_step(pt);
  }
  if (!byte_level)
    Fail("{}: not a byte-level BPE (no ByteLevel pre-tokenizer); not supported yet", file);

  ByteLevelVocab v;
  if (!parsed.has_vocab) Fail("{}: model has no \"vocab\" object", file);
  ReadByteLevelVocab(parsed.vocab, file + ": model.vocab", &v);
  parsed.vocab = {};
  if (!parsed.has_merges) Fail("{}: model has no \"merges\" list", file);
  for (size_t i = 0; i < parsed.merges.size(); ++i) {
    const auto& [first, second] = parsed.merges[i];
    std::string where = fmt::format("{}: model.merges[{}]", file, i);
    if (parsed.merge_is_pair[i]) {
      AddMerge(&v, first, second, where);
      continue;
    }
    size_t space = first.find(' ');
    if (space == std::string::npos || first.find(' ', space + 1) != std::string::npos) {
      Fail("{}: expected \"left right\", found '{}'", where, Excerpt(first));
    }
    AddMerge(&v, std::string_view(first).substr(0, space),
             std::string_view(first).substr(space + 1), where);
  }
  BpeSpec spec = std::move(v.spec);
  spec.path = file;
  spec.merging = BpeSpec::Merging::kMergeList;
  spec.whole_piece_first = flag(model, "ignore_merges");
  spec.patterns = pattern.empty() ? std::move(regexes) : std::vector<std::string>{pattern};
  spec.keep_gaps = pre.keep_gaps;
  spec.add_prefix_space = pre.add_prefix_space;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) Fail("{}: \"added_tokens\" is not a list", file);
    for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
      const json& a = j["added_tokens"][i];
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() >= kMaxVocabSize ||
          !a.contains("content") || !a["content"].is_string()) {
        Fail(
            "{}: added_tokens[{}]: expected {{\"id\": integer in [0, {}), \"content\": string, "
            "...}}",
            file, i, kMaxVocabSize);
      }
      if (flag(a, "single_word"))
        Fail("{}: added_tokens[{}]: single_word is not supported yet", file, i);
      int id = a["id"].get<int>();
      if (static_cast<size_t>(id) >= spec.tokens.size()) {
        spec.tokens.resize(id + 1);
        spec.has_bytes.resize(id + 1, false);
      }
      spec.added.push_back({a["content"].get<std::string>(), id, flag(a, "special"),
                            flag(a, "lstrip"), flag(a, "rstrip")});
    }
  }
  // BOS: the first special token of the post-processor's template, else tokenizer_config.json.
  const json& post = j.contains("post_processor") ? j["post_processor"] : json();
  if (TypeOf(post) == "TemplateProcessing" && post.contains("single") &&
      post["single"].is_array() && !post["single"].empty() &&
      post["single"][0].contains("SpecialToken")) {
    std::string name = post["single"][0]["SpecialToken"].value("id", "");
    if (post.contains("special_tokens") && post["special_tokens"].contains(name) &&
        post["special_tokens"][name].contains("ids") &&
        !post["special_tokens"][name]["ids"].empty()) {
      spec.bos = post["special_tokens"][name]["ids"][0].get<int>();
    }
  }
  fs::path config = fs::path(file).parent_path() / "tokenizer_config.json";
  if (fs::exists(config, ec)) {
    json c = ParseJson(config.string());
    if (spec.bos < 0 && c.contains("bos_token"))
      spec.bos = SpecialId(c["bos_token"], spec.added, v);
    if (c.contains("eos_token")) spec.eos = SpecialId(c["eos_token"], spec.added, v);
  }
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace lmc::rt
