#pragma once
// The rebalance policy: which shard a node gives away next, if any. A pure function of the
// shard map, the members and the drain marks, so that it is unit-tested without a cluster;
// each node's mover (server/cluster_part.cpp) asks it about once every 500 ms and moves at most one
// shard per step.
//
// - A draining node gives its shards away one at a time, each to the emptiest member that is
//   not draining; once it owns none it is drained.
// - Otherwise a node gives one shard to the emptiest other non-draining member when it holds
//   at least two more than that member (join rebalance). Every node follows the same rule, so
//   the shards spread until no two nodes differ by more than one.
// Ties go to the smallest node id, and the shard given is the lowest-numbered one owned: the
// same inputs give the same step on every node.

#include "parley/runtime/shard_map.hpp"

#include <cstdint>
#include <set>
#include <vector>

namespace parley::runtime {

struct rebalance_step {
  enum class kind : std::uint8_t {
    stay,     ///< nothing to do
    move,     ///< give `shard` to `target`
    drained,  ///< a draining node that owns no shard any more
  };
  kind what = kind::stay;
  std::uint32_t shard = 0;
  node_id target;
};

/// The next step of node `self`, given the map's `owners`, the registered `members` and the
/// nodes being `draining`.
rebalance_step next_rebalance_step(const node_id& self, const std::vector<node_id>& owners,
                                   const std::set<node_id>& members,
                                   const std::set<node_id>& draining);

}  // namespace parley::runtime
