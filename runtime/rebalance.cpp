#include "parley/runtime/rebalance.hpp"

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

}  // namespace parley::runtime
