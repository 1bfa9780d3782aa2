// JSON inside checkpoint files (the safetensors header, the shard index),
// parsed strictly: a key repeated within an object is reported, where JSON
// parsers silently keep the last one.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lmc::rt {

// The first key that an object repeats; depth 1 is the top-level object's.
struct RepeatedKey {
  std::string key;
  int depth = 0;
};

// Parses `text`, which starts at byte `file_offset` of `path`. Throws Error
// "{path}: {what} is not valid JSON at file byte N: ..." on a syntax error.
nlohmann::json ParseCheckpointJson(const std::string& path, std::string_view text,
                                   size_t file_offset, std::string_view what,
                                   RepeatedKey* repeated);

}  // namespace lmc::rt
