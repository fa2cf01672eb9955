#include "parley/runtime/shard_map.hpp"

#include "parley/runtime/entity_id.hpp"

#include <xxhash.h>

namespace parley::runtime {

std::uint32_t shard_of(std::string_view entity_id, std::uint32_t shard_count) {
  if (auto shard = presence_shard(entity_id)) return *shard % shard_count;
  const XXH64_hash_t h = XXH64(entity_id.data(), entity_id.size(), 0);
  return static_cast<std::uint32_t>(h % shard_count);
}

}  // namespace parley::runtime
