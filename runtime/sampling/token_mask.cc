#include "runtime/sampling/token_mask.h"

#include <algorithm>
#include <numeric>

namespace lmc::rt {
namespace {

constexpr size_t kMaxCachedMasks = 1024;  // per request: 4 MB at 32000 tokens

}  // namespace

TokenVocabulary::TokenVocabulary(std::vector<std::string> bytes) : bytes_(std::move(bytes)) {
  plain_.assign((bytes_.size() + 63) / 64, 0);
  std::vector<int32_t> all, not_plain;
  for (size_t id = 0; id < bytes_.size(); ++id) {
    const std::string& b = bytes_[id];
    if (b.empty()) continue;
    all.push_back(static_cast<int32_t>(id));
    max_length_ = std::max(max_length_, b.size());
    const bool plain = std::all_of(
        b.begin(), b.end(), [](char c) { return c >= 0x20 && c <= 0x7E && c != '"' && c != '\\'; });
    if (plain) {
      plain_[id >> 6] |= uint64_t{1} << (id & 63);
    } else {
      not_plain.push_back(static_cast<int32_t>(id));
    }
  }
  all_ = Make(std::move(all));
  not_plain_ = Make(std::move(not_plain));
}

std::shared_ptr<const TokenVocabulary> TokenVocabulary::FromDecoder(
    int vocab_size, int32_t ref, const std::vector<int32_t>& none, const Decode& decode) {
  const std::string before = ref >= 0 ? decode(std::span<const int32_t>(&ref, 1)) : "";
  std::vector<std::string> bytes(vocab_size);
  for (int32_t id = 0; id < vocab_size; ++id) {
    if (std::find(none.begin(), none.end(), id) != none.end()) continue;
    const std::span<const int32_t> alone(&id, 1);
    if (ref < 0) {
      bytes[id] = decode(alone);
      continue;
    }
    const int32_t pair[2] = {ref, id};
    std::string piece = decode(pair);
    bytes[id] = piece.starts_with(before) ? piece.substr(before.size()) : decode(alone);
  }
  return std::make_shared<const TokenVocabulary>(std::move(bytes));
}

TokenVocabulary::Trie TokenVocabulary::Make(std::vector<int32_t> ids) {
  Trie trie;
  trie.tokens = std::move(ids);
  std::stable_sort(trie.tokens.begin(), trie.tokens.end(),
                   [&](int32_t a, int32_t b) { return bytes_[a] < bytes_[b]; });
  trie.nodes.emplace_back();
  Build(&trie, 0, 0, trie.tokens.size(), 0);
  return trie;
}

// The node for tokens[lo, hi), which share their first `depth` bytes: those of exactly that
// length are its own (they sort first), the rest go to one child per next byte.
void TokenVocabulary::Build(Trie* trie, uint32_t node, size_t lo, size_t hi, size_t depth) {
  const std::vector<int32_t>& tokens = trie->tokens;
  size_t i = lo;
  while (i < hi && bytes_[tokens[i]].size() == depth) ++i;
  trie->nodes[node].token_begin = static_cast<uint32_t>(lo);
  trie->nodes[node].token_end = static_cast<uint32_t>(i);
  std::vector<std::pair<size_t, size_t>> groups;
  while (i < hi) {
    const char byte = bytes_[tokens[i]][depth];
    size_t j = i;
    while (j < hi && bytes_[tokens[j]][depth] == byte) ++j;
    groups.emplace_back(i, j);
    i = j;
  }
  const uint32_t first = static_cast<uint32_t>(trie->nodes.size());
  trie->nodes[node].first_child = first;
  trie->nodes[node].child_count = static_cast<uint32_t>(groups.size());
  trie->nodes.resize(trie->nodes.size() + groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    trie->nodes[first + g].byte = static_cast<uint8_t>(bytes_[tokens[groups[g].first]][depth]);
    Build(trie, first + static_cast<uint32_t>(g), groups[g].first, groups[g].second, depth + 1);
  }
}

TokenMask::TokenMask(std::shared_ptr<const TokenVocabulary> vocabulary,
                     std::shared_ptr<const JsonGrammar> grammar, std::vector<int32_t> end_ids)
    : vocabulary_(std::move(vocabulary)),
      grammar_(std::move(grammar)),
      end_ids_(std::move(end_ids)) {
  levels_.assign(vocabulary_->max_length() + 1, JsonMatcher(grammar_.get()));
}

const std::vector<uint64_t>& TokenMask::Allowed(const JsonMatcher& state) {
  const std::string key(state.Key());
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    ++hits_;
    return it->second;
  }
  ++misses_;
  if (cache_.size() >= kMaxCachedMasks) cache_.clear();
  return cache_.emplace(key, Compute(state)).first->second;
}

std::vector<uint64_t> TokenMask::Compute(const JsonMatcher& state) {
  std::vector<uint64_t> mask((vocabulary_->size() + 63) / 64, 0);
  levels_[0].CopyFrom(state);
  if (state.InStringBody()) {
    // Most of a vocabulary is plain text, which a string takes as it is: only the rest is walked.
    mask = vocabulary_->plain();
    Walk(vocabulary_->not_plain(), 0, 0, &mask);
  } else {
    Walk(vocabulary_->trie(), 0, 0, &mask);
  }
  const bool can_end = state.CanEnd();
  for (int32_t id : end_ids_) {
    if (id < 0 || id >= vocabulary_->size()) continue;
    const uint64_t bit = uint64_t{1} << (id & 63);
    mask[id >> 6] = can_end ? mask[id >> 6] | bit : mask[id >> 6] & ~bit;
  }
  return mask;
}

void TokenMask::Walk(const TokenVocabulary::Trie& trie, uint32_t node, size_t depth,
                     std::vector<uint64_t>* mask) {
  const TokenVocabulary::TrieNode& parent = trie.nodes[node];
  for (uint32_t c = parent.first_child; c < parent.first_child + parent.child_count; ++c) {
    const TokenVocabulary::TrieNode& child = trie.nodes[c];
    JsonMatcher& next = levels_[depth + 1];
    next.CopyFrom(levels_[depth]);
    if (!next.Feed(child.byte)) continue;
    for (uint32_t t = child.token_begin; t < child.token_end; ++t) {
      (*mask)[trie.tokens[t] >> 6] |= uint64_t{1} << (trie.tokens[t] & 63);
    }
    if (child.child_count > 0) Walk(trie, c, depth + 1, mask);
  }
}

}  // namespace lmc::rt
