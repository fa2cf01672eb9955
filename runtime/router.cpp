#include "parley/runtime/router.hpp"

namespace parley::runtime {

router::router(const shard_map& map, node_id self, spawner spawn, const node_directory* nodes,
               std::function<bool()> serving)
    : map_(map),
      self_(std::move(self)),
      spawn_(std::move(spawn)),
      nodes_(nodes),
      serving_(std::move(serving)) {
  slots_.reserve(map_.shard_count());
  for (std::uint32_t i = 0; i < map_.shard_count(); ++i) slots_.push_back(std::make_unique<slot>());
}

std::uint32_t router::shard_of(const std::string& entity_id) const {
  return runtime::shard_of(entity_id, map_.shard_count());
}

route_status router::route(const std::string& entity_id, bool activate,
                           const local_delivery& deliver, const remote_delivery& remote) {
  if (stopping_.load(std::memory_order_acquire)) return route_status::unavailable;
  const std::uint32_t shard = shard_of(entity_id);
  auto& s = *slots_[shard];
  std::lock_guard<std::mutex> guard(s.mu);
  return route_locked(s, shard, entity_id, activate, true, deliver, remote);
}

route_status router::route_locked(slot& s, std::uint32_t shard, const std::string& entity_id,
                                  bool activate, bool park, const local_delivery& deliver,
                                  const remote_delivery& remote) {
  if (park && (s.handing_off || s.resuming)) {
    if (!gate_ || !remote) return route_status::unavailable;
    ++s.parked_in_flight;
    remote(gate_, true);
    return route_status::parked;
  }
  const node_id owner = map_.owner(shard);
  if (owner != self_) {
    if (owner.empty() || !remote || !nodes_) return route_status::unavailable;
    caf::actor gate = nodes_->gate(owner);
    if (!gate) return route_status::unavailable;
    remote(gate, false);
    return route_status::forwarded;
  }
  if (serving_ && !serving_()) return route_status::unavailable;  // fenced
  if (stopping_.load(std::memory_order_acquire)) return route_status::unavailable;
  auto it = s.actors.find(entity_id);
  if (it == s.actors.end()) {
    if (!activate) return route_status::not_active;
    caf::actor fresh = spawn_(entity_id, shard);
    if (!fresh) return route_status::unavailable;
    it = s.actors.emplace(entity_id, std::move(fresh)).first;
  }
  deliver(it->second);
  return route_status::delivered;
}

route_status router::send_to(const std::string& entity_id, const local_delivery& deliver,
                             const remote_delivery& remote) {
  return route(entity_id, true, deliver, remote);
}

route_status router::send_if_active(const std::string& entity_id, const local_delivery& deliver,
                                    const remote_delivery& remote) {
  return route(entity_id, false, deliver, remote);
}

bool router::try_passivate(const std::string& entity_id, const caf::actor_addr& self,
                           const std::function<bool()>& mailbox_empty) {
  auto& s = *slots_[shard_of(entity_id)];
  std::lock_guard<std::mutex> guard(s.mu);
  auto it = s.actors.find(entity_id);
  if (it == s.actors.end() || it->second.address() != self) return true;  // already gone
  if (!mailbox_empty()) return false;
  s.actors.erase(it);
  return true;
}

void router::forget(const std::string& entity_id, const caf::actor_addr& self) {
  auto& s = *slots_[shard_of(entity_id)];
  std::lock_guard<std::mutex> guard(s.mu);
  auto it = s.actors.find(entity_id);
  if (it != s.actors.end() && it->second.address() == self) s.actors.erase(it);
}

void router::set_gate(caf::actor gate) {
  gate_ = std::move(gate);
}

std::vector<caf::actor> router::begin_handoff(std::uint32_t shard) {
  auto& s = *slots_.at(shard);
  std::lock_guard<std::mutex> guard(s.mu);
  s.handing_off = true;
  std::vector<caf::actor> all;
  for (auto& kv : s.actors) all.push_back(kv.second);
  s.actors.clear();
  return all;
}

void router::finish_handoff(std::uint32_t shard, const std::function<void()>& flip) {
  auto& s = *slots_.at(shard);
  std::lock_guard<std::mutex> guard(s.mu);
  if (flip) flip();
  s.handing_off = false;
  s.resuming = static_cast<bool>(gate_);  // until the gate replayed what it holds (settle_parked)
}

void router::settle_parked(std::uint32_t shard, bool arrived,
                           const std::function<void(bool open)>& fn) {
  auto& s = *slots_.at(shard);
  std::lock_guard<std::mutex> guard(s.mu);
  if (arrived && s.parked_in_flight > 0) --s.parked_in_flight;
  const bool open = !s.handing_off;
  fn(open);
  if (open && s.parked_in_flight == 0) s.resuming = false;
}

route_status router::replay(const std::string& entity_id, bool activate,
                            const local_delivery& deliver, const remote_delivery& remote) {
  const std::uint32_t shard = shard_of(entity_id);
  return route_locked(*slots_[shard], shard, entity_id, activate, false, deliver, remote);
}

std::vector<caf::actor> router::shut_down() {
  stopping_.store(true, std::memory_order_release);
  std::vector<caf::actor> all;
  for (auto& sp : slots_) {
    std::lock_guard<std::mutex> guard(sp->mu);
    for (auto& kv : sp->actors) all.push_back(kv.second);
    sp->actors.clear();
  }
  return all;
}

std::vector<std::string> router::active_ids(const std::string& prefix, const std::string& after,
                                            std::size_t limit) const {
  std::vector<std::string> ids;
  for (auto& sp : slots_) {
    std::lock_guard<std::mutex> guard(sp->mu);
    for (auto& kv : sp->actors) {
      if (kv.first.compare(0, prefix.size(), prefix) == 0 && kv.first > after) {
        ids.push_back(kv.first);
      }
    }
  }
  const auto end = ids.begin() + static_cast<std::ptrdiff_t>(std::min(limit, ids.size()));
  std::partial_sort(ids.begin(), end, ids.end());
  ids.erase(end, ids.end());
  return ids;
}

void router::visit_active(
    const std::function<void(const std::string&, const caf::actor&)>& visit) const {
  for (auto& sp : slots_) {
    std::lock_guard<std::mutex> guard(sp->mu);
    for (const auto& entry : sp->actors) visit(entry.first, entry.second);
  }
}

std::size_t router::active_count() const {
  std::size_t n = 0;
  for (auto& sp : slots_) {
    std::lock_guard<std::mutex> guard(sp->mu);
    n += sp->actors.size();
  }
  return n;
}

}  // namespace parley::runtime
