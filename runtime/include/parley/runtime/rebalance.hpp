#pragma once
// The rebalance policy: which shards a node gives away next, if any. A pure function of the
// shard map, the members and the drain marks, so that it is unit-tested without a cluster;
// each node's mover (server/cluster_part.cpp) asks it for a plan (plan_rebalance), hands the
// plan's first batch off, then asks again: at once while draining, after ~500 ms otherwise.
//
// - A draining node gives its shards away one at a time, each to the emptiest member that is
//   not draining; once it owns none it is drained.
// - Otherwise a node gives one shard to the emptiest other non-draining member when it holds
//   at least two more than that member (join rebalance). Every node follows the same rule, so
//   the shards spread until no two nodes differ by more than one.
// Ties go to the smallest node id, and the shard given is the lowest-numbered one owned: the
// same inputs give the same step on every node.
//
// A plan is that step repeated on a copy of the map. Every node plans at the same time from the
// same map, so a join plan is capped at the node's excess over an even share: together the
// excesses are what the emptier nodes lack, and parallel plans do not overshoot (a join of a
// third node to 32 + 32 shards is two moves of 10, then single steps to even out the rest).

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

/// Shards to give to one node in one handoff.
struct rebalance_batch {
  node_id target;
  std::vector<std::uint32_t> shards;  ///< ascending
};

/// What a node's mover does now.
struct rebalance_plan {
  bool drained = false;                  ///< a draining node that owns no shard any more
  std::vector<rebalance_batch> batches;  ///< by target id; empty: nothing to do
};

/// next_rebalance_step applied up to `max_shards` times to a copy of the map, grouped by target.
/// A draining node plans every shard it owns (up to the cap); otherwise at most its excess over
/// an even share (the shard count over the non-draining members, rounded up), and at least one
/// shard whenever the step rule moves one.
rebalance_plan plan_rebalance(const node_id& self, std::vector<node_id> owners,
                              const std::set<node_id>& members, const std::set<node_id>& draining,
                              std::size_t max_shards);

}  // namespace parley::runtime
