#include "runtime/weights/sharded_safetensors.h"

#include <sys/stat.h>

#include <map>
#include <set>
#include <string_view>

#include "runtime/util/error.h"
#include "runtime/weights/checkpoint_json.h"
#include "runtime/weights/mapped_file.h"

namespace lmc::rt {
namespace {

using Json = nlohmann::json;

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsFolder(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The folder part of `path`, with its trailing '/' ("" for a bare file name).
std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// The index's weight_map as shard file name -> the tensors it should hold.
std::map<std::string, std::vector<std::string>> ReadWeightMap(const std::string& path) {
  const MappedFile file = MappedFile::Open(path);
  if (file.size() > ShardedSafetensors::kMaxIndexBytes) {
    Fail("{}: {} bytes, over the {}-byte limit for a shard index", path, file.size(),
         ShardedSafetensors::kMaxIndexBytes);
  }
  RepeatedKey repeated;
  const Json index = ParseCheckpointJson(
      path, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), 0,
      "the shard index", &repeated);
  if (!repeated.key.empty()) {
    if (repeated.depth == 2)
      Fail("{}: tensor '{}' appears twice in weight_map", path, EscapeControlBytes(repeated.key));
    Fail("{}: the key '{}' appears twice in one object", path, EscapeControlBytes(repeated.key));
  }
  if (!index.is_object() || !index.contains("weight_map")) {
    Fail(
        "{}: expected a shard index, an object with a \"weight_map\" of tensor names to shard "
        "files",
        path);
  }
  const Json& weight_map = index["weight_map"];
  if (!weight_map.is_object() || weight_map.empty()) {
    Fail("{}: weight_map must be a non-empty object of tensor names to shard files, found {}", path,
         weight_map.is_object() ? "an empty object" : weight_map.type_name());
  }
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [name, shard] : weight_map.items()) {
    const std::string shown = EscapeControlBytes(name);
    if (!shard.is_string()) {
      Fail("{}: weight_map['{}'] must be a shard file name, found {}", path, shown,
           shard.type_name());
    }
    const std::string& file_name = shard.get_ref<const std::string&>();
    // Shards sit beside the index: a path elsewhere is refused, not followed.
    if (file_name.empty() || file_name == "." || file_name == ".." ||
        file_name.find('/') != std::string::npos || file_name.find('\0') != std::string::npos) {
      Fail("{}: weight_map['{}'] is '{}', expected the file name of a shard beside the index", path,
           shown, EscapeControlBytes(file_name));
    }
    shards[file_name].push_back(name);
  }
  return shards;
}

}  // namespace

std::unique_ptr<ShardedSafetensors> ShardedSafetensors::Open(const std::string& path) {
  const auto weight_map = ReadWeightMap(path);
  auto checkpoint = std::unique_ptr<ShardedSafetensors>(new ShardedSafetensors(path));
  const std::string folder = FolderOf(path);
  for (const auto& [file_name, names] : weight_map) {
    const std::string shard_path = folder + file_name;
    std::unique_ptr<SafetensorsCheckpoint> shard;
    try {
      shard = SafetensorsCheckpoint::Open(shard_path);
    } catch (const Error& e) {
      Fail("{}: shard '{}' (holding '{}'{}) cannot be used: {}", path,
           EscapeControlBytes(file_name), EscapeControlBytes(names.front()),
           names.size() > 1 ? fmt::format(" and {} more", names.size() - 1) : "", e.what());
    }
    for (const std::string& name : names) {
      const TensorView* view = shard->Find(name);
      if (view == nullptr) {
        Fail("{}: weight_map puts tensor '{}' in '{}', which has no such tensor", path,
             EscapeControlBytes(name), EscapeControlBytes(file_name));
      }
      checkpoint->tensors_.emplace(name, *view);
    }
    const std::set<std::string> listed(names.begin(), names.end());
    for (const std::string& name : shard->Names()) {
      if (!listed.contains(name)) {
        Fail("{}: holds tensor '{}', which {} does not list for this shard", shard_path,
             EscapeControlBytes(name), path);
      }
    }
    checkpoint->shards_.push_back(std::move(shard));
  }
  return checkpoint;
}

std::unique_ptr<TensorSource> OpenSafetensors(const std::string& path) {
  if (IsFolder(path)) {
    const std::string folder = path.ends_with('/') ? path : path + "/";
    if (IsFile(folder + "model.safetensors")) {
      return SafetensorsCheckpoint::Open(folder + "model.safetensors");
    }
    if (IsFile(folder + "model.safetensors.index.json")) {
      return ShardedSafetensors::Open(folder + "model.safetensors.index.json");
    }
    Fail("{}: a folder without model.safetensors or model.safetensors.index.json", path);
  }
  if (path.ends_with(".index.json")) return ShardedSafetensors::Open(path);
  return SafetensorsCheckpoint::Open(path);
}

}  // namespace lmc::rt
