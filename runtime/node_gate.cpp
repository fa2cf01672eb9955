#include "parley/runtime/node_gate.hpp"

#include "parley/runtime/cluster_errc.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <unordered_map>

namespace parley::runtime {

shard_transfer to_transfer(std::uint32_t shard, store::shard_export data) {
  shard_transfer t;
  t.shard = shard;
  t.comparator = std::move(data.comparator);
  for (auto& f : data.files) {
    t.names.push_back(std::move(f.name));
    t.bytes.push_back(std::move(f.bytes));
    t.levels.push_back(f.level);
    t.smallest_seqnos.push_back(f.smallest_seqno);
    t.largest_seqnos.push_back(f.largest_seqno);
    t.smallest_keys.push_back(std::move(f.smallest_key));
    t.largest_keys.push_back(std::move(f.largest_key));
  }
  return t;
}

store::shard_export from_transfer(const shard_transfer& t) {
  store::shard_export data;
  data.comparator = t.comparator;
  for (std::size_t i = 0; i < t.names.size(); ++i) {
    data.files.push_back({t.names[i], t.bytes[i], t.levels[i], t.smallest_seqnos[i],
                          t.largest_seqnos[i], t.smallest_keys[i], t.largest_keys[i]});
  }
  return data;
}

namespace {

/// A request (answered through `promise`) or a push on its way to an entity.
struct routed_message {
  std::string id;
  caf::message inner;
  bool request = false;
  caf::response_promise promise;
};

struct gate_state {
  /// Messages for shards being handed off, in arrival order.
  std::unordered_map<std::uint32_t, std::vector<routed_message>> held;
  static inline const char* name = "parley.gate";
};
using gate_actor = caf::stateful_actor<gate_state>;

void refuse(routed_message& m, const std::string& why) {
  if (m.request) m.promise.deliver(make_error(errc::unavailable, why));
}

/// Sends `m` on: to its entity here, to the owner's gate, or (shard moving) parked to ourselves.
/// `replay`: a held message, routed under settle_parked's lock (see router.hpp).
void dispatch(router& r, routed_message& m, std::uint8_t hops, bool replay) {
  auto local = [&](const caf::actor& entity) {
    if (m.request)
      m.promise.delegate(entity, std::move(m.inner));
    else
      caf::anon_send(entity, std::move(m.inner));
  };
  auto remote = [&](const caf::actor& gate, bool parked) {
    if (!parked && hops >= max_hops) return refuse(m, "no stable owner for " + m.id);
    const std::uint8_t next = parked ? parked_hop : static_cast<std::uint8_t>(hops + 1);
    if (m.request)
      m.promise.delegate(gate, route_atom::value, m.id, next, std::move(m.inner));
    else
      caf::anon_send(gate, route_active_atom::value, m.id, next, std::move(m.inner));
  };
  route_status status;
  if (replay)
    status = r.replay(m.id, m.request, local, remote);
  else if (m.request)
    status = r.send_to(m.id, local, remote);
  else
    status = r.send_if_active(m.id, local, remote);
  if (status == route_status::unavailable) {
    refuse(m, "the shard of " + m.id + " is unavailable on " + r.self());
  }
}

/// Replays, in order, everything held for `shard` (inside settle_parked's `fn`).
void replay_held(gate_actor* self, router& r, std::uint32_t shard) {
  auto it = self->state.held.find(shard);
  if (it == self->state.held.end()) return;
  auto queue = std::move(it->second);
  self->state.held.erase(it);
  for (auto& m : queue) dispatch(r, m, 0, true);
}

/// A message the router parked here: hold it while its shard moves, else replay.
void take_parked(gate_actor* self, router& r, routed_message m) {
  const std::uint32_t shard = r.shard_of(m.id);
  r.settle_parked(shard, true, [&](bool open) {
    if (open) {
      replay_held(self, r, shard);
      dispatch(r, m, 0, true);
      return;
    }
    auto& queue = self->state.held[shard];
    if (queue.size() >= max_parked_per_shard)
      return refuse(m, "too many requests wait for " + m.id);
    queue.push_back(std::move(m));
  });
}

caf::behavior gate_behavior(gate_actor* self, router* r, gate_hooks hooks) {
  return {
      [=](import_atom, shard_transfer& t) -> caf::result<std::uint32_t> {
        if (!hooks.import) {
          return to_caf({cluster_errc::unsupported, "this node cannot import"});
        }
        if (auto err = hooks.import(t)) return to_caf(err);
        return t.shard;
      },
      [=](map_atom, std::uint64_t epoch, std::vector<node_id>& owners) {
        if (hooks.apply_map) hooks.apply_map(epoch, std::move(owners));
      },
      [=](hello_atom, node_id& node, std::int64_t incarnation, caf::actor& gate) {
        if (hooks.hello) hooks.hello(node, incarnation, gate);
      },
      [=](peer_atom, caf::message& m) -> caf::message {
        return hooks.peer ? hooks.peer(m) : caf::message{};
      },
      [=](resume_atom, std::uint32_t shard) {
        r->settle_parked(shard, false, [&](bool open) {
          if (open) replay_held(self, *r, shard);
        });
      },
      [=](route_atom, std::string& id, std::uint8_t hops,
          caf::message& inner) -> caf::result<caf::message> {
        routed_message m{std::move(id), std::move(inner), true, self->make_response_promise()};
        auto promise = m.promise;
        if (hops == parked_hop)
          take_parked(self, *r, std::move(m));
        else
          dispatch(*r, m, hops, false);
        return promise;
      },
      [=](route_active_atom, std::string& id, std::uint8_t hops, caf::message& inner) {
        routed_message m{std::move(id), std::move(inner), false, {}};
        if (hops == parked_hop)
          take_parked(self, *r, std::move(m));
        else
          dispatch(*r, m, hops, false);
      },
  };
}

}  // namespace

caf::actor spawn_node_gate(caf::actor_system& system, router& r, gate_hooks hooks) {
  return system.spawn(gate_behavior, &r, std::move(hooks));
}

gate_directory::gate_directory(caf::actor_system& system, connector connect)
    : system_(system), connect_(std::move(connect)) {
  // The directory is a spawn argument, not a capture: CAF 0.17 dereferences a null tuple when
  // a function-based actor has no arguments (UBSan: reference binding to null pointer).
  watcher_ = system.spawn(watch, this);
}

caf::behavior gate_directory::watch(caf::event_based_actor* self, gate_directory* dir) {
  self->set_down_handler([dir](caf::down_msg& dm) { dir->forget(dm.source); });
  return {[self](caf::actor& gate) { self->monitor(gate); }};
}

gate_directory::~gate_directory() {
  // Wait for the watcher to end: a down message it handled after this object is gone would
  // call forget() on freed memory (a node stopping while its peers' gates go down).
  caf::scoped_actor self{system_};
  self->monitor(watcher_);
  self->send_exit(watcher_, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(5)) >> [] {});
}

void gate_directory::forget(const caf::actor_addr& gate) {
  std::lock_guard<std::mutex> guard(mu_);
  for (auto& [id, entry] : gates_) {
    if (entry.second && entry.second.address() == gate) entry.second = caf::actor{};
  }
}

caf::actor gate_directory::gate(const node_id& node) const {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = gates_.find(node);
  return it == gates_.end() ? caf::actor{} : it->second.second;
}

std::size_t gate_directory::reachable() const {
  std::lock_guard<std::mutex> guard(mu_);
  std::size_t n = 0;
  for (auto& [id, entry] : gates_) n += entry.second ? 1 : 0;
  return n;
}

std::vector<caf::actor> gate_directory::connected() const {
  std::lock_guard<std::mutex> guard(mu_);
  std::vector<caf::actor> gates;
  for (auto& [id, entry] : gates_) {
    if (entry.second) gates.push_back(entry.second);
  }
  return gates;
}

void gate_directory::on_connect(std::function<void(const caf::actor&)> fn) {
  std::lock_guard<std::mutex> guard(mu_);
  on_connect_ = std::move(fn);
}

void gate_directory::set_own_gate(caf::actor gate) {
  std::lock_guard<std::mutex> guard(mu_);
  own_gate_ = std::move(gate);
}

void gate_directory::introduce(const node_id& node, std::int64_t incarnation,
                               const caf::actor& gate) {
  {
    // The gate is valid while its connection lasts (the watcher forgets it when it drops), so
    // a newer incarnation of the same process (a lease renewed after a pause) keeps it.
    std::lock_guard<std::mutex> guard(mu_);
    auto& entry = gates_[node];
    if (entry.first.incarnation < incarnation) entry.first.incarnation = incarnation;
    entry.second = gate;
  }
  caf::anon_send(watcher_, gate);
  connected_now(gate);
}

void gate_directory::connected_now(const caf::actor& gate) {
  std::function<void(const caf::actor&)> fn;
  {
    std::lock_guard<std::mutex> guard(mu_);
    fn = on_connect_;
  }
  if (fn) fn(gate);
}

void gate_directory::update(const std::map<node_id, gate_address>& nodes, const node_id& self) {
  if (auto it = nodes.find(self); it != nodes.end()) {
    std::lock_guard<std::mutex> guard(mu_);
    own_incarnation_ = it->second.incarnation;
  }
  for (auto& [id, where] : nodes) {
    if (id == self) continue;
    if (id < self) {
      // It connects to us: its gate comes with its hello and goes when its connection drops
      // (a restarted node connects and says hello again); only its address is noted here.
      std::lock_guard<std::mutex> guard(mu_);
      gates_[id].first = where;
      continue;
    }
    caf::actor own;
    std::int64_t own_incarnation = 0;
    {
      std::lock_guard<std::mutex> guard(mu_);
      auto it = gates_.find(id);
      if (it != gates_.end() && it->second.first == where && it->second.second) continue;
      own = own_gate_;
      own_incarnation = own_incarnation_;
    }
    auto gate = connect_(where);
    if (gate) {
      caf::anon_send(watcher_, *gate);
      if (own) caf::anon_send(*gate, hello_atom::value, self, own_incarnation, own);
    }
    {
      std::lock_guard<std::mutex> guard(mu_);
      gates_[id] = {where, gate ? *gate : caf::actor{}};
    }
    if (gate) connected_now(*gate);
  }
  std::lock_guard<std::mutex> guard(mu_);
  for (auto it = gates_.begin(); it != gates_.end();) {
    if (nodes.count(it->first) == 0)
      it = gates_.erase(it);
    else
      ++it;
  }
}

}  // namespace parley::runtime
