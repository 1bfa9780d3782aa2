// Pre-tokenization of byte-level BPE tokenizers: the text is cut into pieces by
// the model's regex before BPE runs on each piece. The regexes of GPT-2
// (r50k/p50k), cl100k_base (= Llama 3), Qwen2 and o200k_base are recognised by
// their exact text and run by hand-written matchers (no backtracking, one pass);
// any other regex runs through PCRE2 with its JIT.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::rt {

// The pattern strings, exactly as the tokenizer files spell them.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kCl100kPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class Pretokenizer {
 public:
  enum class Engine { kGpt2, kCl100k, kQwen2, kO200k, kPcre2, kWhole };

  // A matcher for `pattern`: hand-written if it is one of the known patterns
  // (unless force_pcre2), else compiled by PCRE2 (UTF + UCP, JIT). `keep_gaps`:
  // text between matches becomes pieces too (Hugging Face's Split "Isolated");
  // otherwise it is dropped (tiktoken). Throws Error naming `where` on a bad regex.
  static Pretokenizer ForPattern(std::string_view pattern, bool keep_gaps, const std::string& where,
                                 bool force_pcre2 = false);

  // A chain: the first pattern cuts the text, each next one cuts every piece of
  // the one before (Hugging Face's Sequence of Splits; llama.cpp's regex lists).
  // No patterns: the text is one piece. Throws Error naming `where` on a bad regex.
  static Pretokenizer ForPatterns(const std::vector<std::string>& patterns, bool keep_gaps,
                                  const std::string& where);

  // Appends the pieces of `text` (well-formed UTF-8), in order, to `pieces`.
  void Split(std::string_view text, std::vector<std::string_view>* pieces) const;

  Engine engine() const { return engine_; }
  const std::string& pattern() const { return pattern_; }

 private:
  struct Pcre2;
  Engine engine_ = Engine::kPcre2;
  std::string pattern_;
  std::string where_;
  bool keep_gaps_ = false;
  std::shared_ptr<Pcre2> pcre2_;
  std::shared_ptr<const Pretokenizer> then_;  // The next stage of a chain.

  void SplitOnce(std::string_view text, std::vector<std::string_view>* pieces) const;
};

}  // namespace lmc::rt
