#include "runtime/sampling/token_mask.h"

#include <algorithm>
#include <numeric>

namespace lmc::rt {
namespace {

constexpr size_t kMaxCachedMasks = 4096;

}  // namespace

TokenVocabulary::TokenVocabulary(std::vector<std::string> bytes) : bytes_(std::move(bytes)) {
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (bytes_[id].empty()) continue;
    tokens_.push_back(static_cast<int32_t>(id));
    max_length_ = std::max(max_length_, bytes_[id].size());
  }
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [&](int32_t a, int32_t b) { return bytes_[a] < bytes_[b]; });
  trie_.emplace_back();
  Build(0, 0, tokens_.size(), 0);
}

// The node for tokens_[lo, hi), which share their first `depth` bytes: those of exactly that
// length are its own (they sort first), the rest go to one child per next byte.
void TokenVocabulary::Build(uint32_t node, size_t lo, size_t hi, size_t depth) {
  size_t i = lo;
  while (i < hi && bytes_[tokens_[i]].size() == depth) ++i;
  trie_[node].token_begin = static_cast<uint32_t>(lo);
  trie_[node].token_end = static_cast<uint32_t>(i);
  std::vector<std::pair<size_t, size_t>> groups;
  while (i < hi) {
    const char byte = bytes_[tokens_[i]][depth];
    size_t j = i;
    while (j < hi && bytes_[tokens_[j]][depth] == byte) ++j;
    groups.emplace_back(i, j);
    i = j;
  }
  const uint32_t first = static_cast<uint32_t>(trie_.size());
  trie_[node].first_child = first;
  trie_[node].child_count = static_cast<uint32_t>(groups.size());
  trie_.resize(trie_.size() + groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    trie_[first + g].byte = static_cast<uint8_t>(bytes_[tokens_[groups[g].first]][depth]);
    Build(first + static_cast<uint32_t>(g), groups[g].first, groups[g].second, depth + 1);
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
  Walk(0, 0, &mask);
  const bool can_end = state.CanEnd();
  for (int32_t id : end_ids_) {
    if (id < 0 || id >= vocabulary_->size()) continue;
    const uint64_t bit = uint64_t{1} << (id & 63);
    mask[id >> 6] = can_end ? mask[id >> 6] | bit : mask[id >> 6] & ~bit;
  }
  return mask;
}

void TokenMask::Walk(uint32_t node, size_t depth, std::vector<uint64_t>* mask) {
  const auto& trie = vocabulary_->trie();
  const auto& tokens = vocabulary_->trie_tokens();
  const TokenVocabulary::TrieNode& parent = trie[node];
  for (uint32_t c = parent.first_child; c < parent.first_child + parent.child_count; ++c) {
    const TokenVocabulary::TrieNode& child = trie[c];
    JsonMatcher& next = levels_[depth + 1];
    next.CopyFrom(levels_[depth]);
    if (!next.Feed(child.byte)) continue;
    for (uint32_t t = child.token_begin; t < child.token_end; ++t) {
      (*mask)[tokens[t] >> 6] |= uint64_t{1} << (tokens[t] & 63);
    }
    if (child.child_count > 0) Walk(c, depth + 1, mask);
  }
}

}  // namespace lmc::rt
