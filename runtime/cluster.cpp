#include "parley/runtime/cluster.hpp"

#include "parley/runtime/cluster_errc.hpp"
#include "parley/schema/log.hpp"

#include <algorithm>

namespace parley::runtime {

using clock = std::chrono::steady_clock;

node_id etcd_shard_map::owner(std::uint32_t shard) const {
  std::lock_guard<std::mutex> guard(mu_);
  return shard < owners_.size() ? owners_[shard] : node_id{};
}

std::uint64_t etcd_shard_map::epoch() const {
  std::lock_guard<std::mutex> guard(mu_);
  return epoch_;
}

void etcd_shard_map::apply(std::uint64_t epoch, std::vector<node_id> owners) {
  std::lock_guard<std::mutex> guard(mu_);
  if (owners.size() != shard_count_) return;
  if (held_) {
    if (epoch > pending_epoch_) {
      pending_epoch_ = epoch;
      pending_owners_ = std::move(owners);
    }
    return;
  }
  if (epoch <= epoch_) return;
  epoch_ = epoch;
  owners_ = std::move(owners);
}

void etcd_shard_map::hold(bool held) {
  std::lock_guard<std::mutex> guard(mu_);
  held_ = held;
  if (!held && pending_epoch_ > epoch_) {
    epoch_ = pending_epoch_;
    owners_ = std::move(pending_owners_);
  }
  pending_owners_.clear();
  pending_epoch_ = 0;
}

std::vector<node_id> etcd_shard_map::owners() const {
  std::lock_guard<std::mutex> guard(mu_);
  return owners_;
}

cluster_member::cluster_member(cluster_options opts, node_info self, etcd_shard_map& map,
                               nodes_changed on_nodes)
    : opts_(std::move(opts)),
      self_(std::move(self)),
      keys_(opts_.prefix),
      map_(map),
      on_nodes_(std::move(on_nodes)),
      etcd_(opts_.etcd, std::chrono::milliseconds(2000), opts_.etcd_tls) {}

cluster_member::~cluster_member() {
  stop();
}

error cluster_member::start(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  while (!register_self()) {
    if (clock::now() >= deadline) {
      return {cluster_errc::etcd_unreachable, "cannot register with etcd at " + opts_.etcd};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // etcd may still be starting
  }
  tick();
  auto changed = [this] {
    std::lock_guard<std::mutex> guard(mu_);
    changed_ = true;
    cv_.notify_all();
  };
  map_watch_ =
      std::make_unique<etcd_watch>(opts_.etcd, keys_.shard_map(), false, changed, opts_.etcd_tls);
  nodes_watch_ =
      std::make_unique<etcd_watch>(opts_.etcd, keys_.nodes(), true, changed, opts_.etcd_tls);
  thread_ = std::thread([this] { run(); });
  return {};
}

std::size_t cluster_member::watches_established() const {
  return (map_watch_ ? map_watch_->established() : 0) +
         (nodes_watch_ ? nodes_watch_->established() : 0);
}

void cluster_member::stop() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  map_watch_.reset();
  nodes_watch_.reset();
  serving_ = false;
  if (lease_) ignore(etcd_.revoke(lease_), "best effort: otherwise the lease simply expires");
}

std::map<node_id, node_info> cluster_member::nodes() const {
  std::lock_guard<std::mutex> guard(mu_);
  return nodes_;
}

bool cluster_member::register_self() {
  auto lease = etcd_.grant_lease(opts_.lease_ttl);
  if (!lease) return false;
  node_info info = self_;
  info.incarnation = *lease;
  if (etcd_.put(keys_.node(self_.id), encode_node_info(info), *lease)) return false;
  lease_ = *lease;
  last_keepalive_sent_ = clock::now();
  last_keepalive_ok_.store(last_keepalive_sent_.time_since_epoch().count(),
                           std::memory_order_release);
  serving_ = true;
  return true;
}

bool cluster_member::serving() const {
  if (!serving_.load(std::memory_order_acquire)) return false;
  const clock::time_point ok(clock::duration(last_keepalive_ok_.load(std::memory_order_acquire)));
  return clock::now() - ok < opts_.lease_ttl;
}

void cluster_member::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, opts_.poll, [this] { return stopping_ || changed_; });
    if (stopping_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

void cluster_member::tick() {
  const auto now = clock::now();
  // Lease: refresh every ttl/3; fence when it lapsed or etcd was unreachable for a ttl.
  if (now - last_keepalive_sent_ >= opts_.lease_ttl / 3) {
    last_keepalive_sent_ = now;
    auto ttl = etcd_.keep_alive(lease_);
    if (ttl && *ttl > 0) {
      last_keepalive_ok_.store(now.time_since_epoch().count(), std::memory_order_release);
    } else if (ttl && *ttl == 0) {
      log::warn("etcd_lease_lost", {{"node", self_.id}, {"action", "fenced; registering again"}});
      serving_ = false;       // the lease is gone: someone may already consider us dead
      coordinating_ = false;  // and the coordinator key went with it
      register_self();
    } else if (!ttl) {
      log::write_limited(log::level::warn, "etcd_keepalive_failed",
                         {{"node", self_.id}, {"detail", ttl.error().describe()}});
    }
  }
  if (now - clock::time_point(clock::duration(last_keepalive_ok_.load())) >= opts_.lease_ttl) {
    if (serving_) {
      log::warn("node_fenced",
                {{"node", self_.id}, {"reason", "etcd unreachable for a lease ttl"}});
    }
    serving_ = false;
  }

  {
    // Members and map: re-read when a watch saw a change, else once per resync interval.
    std::lock_guard<std::mutex> guard(mu_);
    if (!changed_ && now - last_read_ < opts_.resync) return;
    changed_ = false;
    last_read_ = now;
  }
  auto listed = etcd_.get_prefix(keys_.nodes());
  if (listed) {
    std::map<node_id, node_info> nodes;
    for (auto& kv : *listed) {
      if (auto n = decode_node_info(kv.value)) nodes[n->id] = std::move(*n);
    }
    bool changed;
    {
      std::lock_guard<std::mutex> guard(mu_);
      changed = nodes.size() != nodes_.size() ||
                !std::equal(nodes.begin(), nodes.end(), nodes_.begin(), [](auto& a, auto& b) {
                  return a.first == b.first && a.second.incarnation == b.second.incarnation;
                });
      nodes_ = nodes;
    }
    // Also once a second without a change: a gate that could not be reached is retried.
    if (on_nodes_ && (changed || now - last_nodes_callback_ >= std::chrono::seconds(1))) {
      last_nodes_callback_ = now;
      on_nodes_(nodes);
    }
  }

  // The map is read once per tick; the coordinator only needs to know whether one exists.
  auto map = etcd_.get(keys_.shard_map());
  const bool map_exists = map && *map;
  if (map_exists) {
    if (auto stored = decode_shard_map((*map)->value)) {
      map_.apply(stored->epoch, std::move(stored->owners));
    }
  }
  if (listed && serving() && map) coordinate(nodes(), map_exists);
}

void cluster_member::coordinate(const std::map<node_id, node_info>& nodes, bool map_exists) {
  // Election: the coordinator key lives as long as its holder's lease; a lost lease clears
  // coordinating_ (see tick), so campaigning again is only needed until we win.
  if (!coordinating_) {
    auto won = etcd_.put_if(keys_.coordinator(), self_.id, 0, lease_);
    if (won && *won) coordinating_ = true;
  }
  if (!coordinating_ || map_exists) return;  // after the first map, changes come with migration
  if (nodes.size() < opts_.expected_nodes) return;
  std::vector<node_id> ids;
  for (auto& [id, info] : nodes) ids.push_back(id);
  std::vector<node_id> owners(map_.shard_count());
  for (std::size_t s = 0; s < owners.size(); ++s) owners[s] = ids[s % ids.size()];
  ignore(etcd_.put_if(keys_.shard_map(), encode_shard_map({1, owners}), 0),
         "another node wrote the first map: it is read back on the next change");
}

result<stored_shard_map> move_shards_owner(etcd_client& etcd, const cluster_layout& keys,
                                           const std::vector<std::uint32_t>& shards,
                                           const node_id& from, const node_id& to) {
  constexpr int max_races = 20;
  for (int attempt = 0; attempt <= max_races; ++attempt) {
    auto kv = etcd.get(keys.shard_map());
    if (!kv) return kv.error().context("cannot read the shard map");
    if (!*kv) return {cluster_errc::etcd_bad_answer, "there is no shard map"};
    auto map = decode_shard_map((*kv)->value);
    if (!map) return {cluster_errc::etcd_bad_answer, "cannot read the shard map"};
    for (const std::uint32_t shard : shards) {
      if (shard >= map->owners.size()) {
        return {cluster_errc::etcd_bad_answer,
                "the shard map has no shard " + std::to_string(shard)};
      }
      if (map->owners[shard] != from) {
        return {cluster_errc::map_conflict, "the map changed under the move"};
      }
      map->owners[shard] = to;
    }
    ++map->epoch;
    auto swapped = etcd.put_if(keys.shard_map(), encode_shard_map(*map), (*kv)->mod_revision);
    if (swapped && *swapped) return std::move(*map);
  }
  return {cluster_errc::map_conflict,
          "lost the shard map race " + std::to_string(max_races) + " times"};
}

}  // namespace parley::runtime
