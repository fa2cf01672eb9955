#include "parley/runtime/node_gate.hpp"

#include "parley/runtime/errc.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

namespace parley::runtime {

namespace {

caf::behavior gate_behavior(caf::event_based_actor* self, router* r, gate_hooks hooks) {
  return {
      [=](import_atom, shard_transfer& t) -> caf::result<std::uint32_t> {
        if (!hooks.import) return make_error(errc::unsupported, "this node cannot import");
        if (auto err = hooks.import(t)) return err;
        return t.shard;
      },
      [=](map_atom, std::uint64_t epoch, std::vector<node_id>& owners) {
        if (hooks.apply_map) hooks.apply_map(epoch, std::move(owners));
      },
      [=](route_atom, std::string& id, std::uint8_t hops,
          caf::message& inner) -> caf::result<caf::message> {
        auto rp = self->make_response_promise();
        auto status = r->with(
            id, [&](const caf::actor& entity) { rp.delegate(entity, std::move(inner)); },
            [&](const caf::actor& gate) {
              if (hops >= max_hops) {
                rp.deliver(make_error(errc::unavailable, "no stable owner for " + id));
                return;
              }
              rp.delegate(gate, route_atom::value, id, static_cast<std::uint8_t>(hops + 1),
                          std::move(inner));
            });
        if (status == route_status::unavailable) {
          rp.deliver(make_error(errc::unavailable,
                                "the shard of " + id + " is unavailable on " + r->self()));
        }
        return rp;
      },
      [=](route_active_atom, std::string& id, caf::message& inner) {
        r->with_if_active(id, [&](const caf::actor& entity) { caf::anon_send(entity, inner); });
      },
  };
}

}  // namespace

caf::actor spawn_node_gate(caf::actor_system& system, router& r, gate_hooks hooks) {
  return system.spawn(gate_behavior, &r, std::move(hooks));
}

gate_directory::gate_directory(caf::actor_system& system) : system_(system) {
  watcher_ = system.spawn([this](caf::event_based_actor* self) -> caf::behavior {
    self->set_down_handler([this](caf::down_msg& dm) { forget(dm.source); });
    return {[self](caf::actor& gate) { self->monitor(gate); }};
  });
}

gate_directory::~gate_directory() {
  caf::anon_send_exit(watcher_, caf::exit_reason::user_shutdown);
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

void gate_directory::update(const std::map<node_id, gate_address>& nodes, const node_id& self) {
  for (auto& [id, where] : nodes) {
    if (id == self) continue;
    {
      std::lock_guard<std::mutex> guard(mu_);
      auto it = gates_.find(id);
      if (it != gates_.end() && it->second.first == where && it->second.second) continue;
    }
    auto gate = system_.middleman().remote_actor(where.host, where.port);
    if (gate) caf::anon_send(watcher_, *gate);
    std::lock_guard<std::mutex> guard(mu_);
    gates_[id] = {where, gate ? *gate : caf::actor{}};
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
