#include "parley/runtime/rebalance.hpp"

#include <algorithm>
#include <map>

namespace parley::runtime {

rebalance_step next_rebalance_step(const node_id& self, const std::vector<node_id>& owners,
                                   const std::set<node_id>& members,
                                   const std::set<node_id>& draining) {
  std::vector<std::uint32_t> mine;
  for (std::uint32_t s = 0; s < owners.size(); ++s) {
    if (owners[s] == self) mine.push_back(s);
  }
  const bool draining_self = draining.count(self) > 0;
  if (draining_self && mine.empty()) return {rebalance_step::kind::drained, 0, {}};
  // Shards held by each candidate: a member, not draining, not self.
  std::map<node_id, std::size_t> load;
  for (const auto& id : members) {
    if (id != self && draining.count(id) == 0) load[id] = 0;
  }
  for (const auto& o : owners) {
    if (auto it = load.find(o); it != load.end()) ++it->second;
  }
  if (load.empty() || mine.empty()) return {};
  auto emptiest = load.begin();  // the smallest id among the least loaded (map order)
  for (auto it = load.begin(); it != load.end(); ++it) {
    if (it->second < emptiest->second) emptiest = it;
  }
  if (!draining_self && mine.size() < emptiest->second + 2) return {};
  return {rebalance_step::kind::move, mine.front(), emptiest->first};
}

rebalance_plan plan_rebalance(const node_id& self, std::vector<node_id> owners,
                              const std::set<node_id>& members, const std::set<node_id>& draining,
                              std::size_t max_shards) {
  rebalance_plan plan;
  std::size_t limit = max_shards;
  if (draining.count(self) == 0) {
    std::size_t sharing = members.count(self) == 0 ? 1 : 0;  // self counts, registered or not
    for (const auto& id : members) sharing += draining.count(id) == 0 ? 1 : 0;
    const std::size_t even = sharing == 0 ? owners.size() : (owners.size() + sharing - 1) / sharing;
    const auto mine = static_cast<std::size_t>(std::count(owners.begin(), owners.end(), self));
    limit = std::min(limit, std::max<std::size_t>(1, mine > even ? mine - even : 0));
  }
  std::map<node_id, std::vector<std::uint32_t>> by_target;
  for (std::size_t n = 0; n < limit; ++n) {
    const auto step = next_rebalance_step(self, owners, members, draining);
    if (step.what == rebalance_step::kind::drained) plan.drained = n == 0;
    if (step.what != rebalance_step::kind::move) break;
    by_target[step.target].push_back(step.shard);
    owners[step.shard] = step.target;
  }
  for (auto& [target, shards] : by_target) plan.batches.push_back({target, std::move(shards)});
  return plan;
}

}  // namespace parley::runtime
