#pragma once
// Shards and their owners.
//
// An entity id maps to a shard by xxHash64 (seed 0) modulo the shard count: the same on every
// node and every build, unlike std::hash. A shard maps to its owner node through a versioned
// shard map; every change bumps the epoch. A single node uses local_shard_map (it owns every
// shard, epoch 1, no etcd); the cluster plugs in a map kept in etcd behind the same interface,
// so the router and its callers do not change.

#include <cstdint>
#include <string>
#include <string_view>

namespace parley::runtime {

/// Identifies a node in the cluster ("node-1"); a single node calls itself "local".
using node_id = std::string;

/// The shard of an entity id: a hash of it, except that "presence/<n>" is shard n.
std::uint32_t shard_of(std::string_view entity_id, std::uint32_t shard_count);

/// Who owns which shard. Implementations are thread-safe: the router reads them from any
/// thread.
class shard_map {
 public:
  virtual ~shard_map() = default;
  /// Number of shards; fixed for the cluster's life.
  virtual std::uint32_t shard_count() const = 0;
  /// Owner of `shard` in the current epoch; empty if nobody owns it (e.g. its node crashed).
  virtual node_id owner(std::uint32_t shard) const = 0;
  /// Version of the map; increases with every change.
  virtual std::uint64_t epoch() const = 0;
};

/// The embedded single-node map: one node owns every shard, forever, at epoch 1.
class local_shard_map final : public shard_map {
 public:
  local_shard_map(node_id self, std::uint32_t shard_count)
      : self_(std::move(self)), shard_count_(shard_count) {}
  std::uint32_t shard_count() const override { return shard_count_; }
  node_id owner(std::uint32_t) const override { return self_; }
  std::uint64_t epoch() const override { return 1; }

 private:
  node_id self_;
  std::uint32_t shard_count_;
};

}  // namespace parley::runtime
