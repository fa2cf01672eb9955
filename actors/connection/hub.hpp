#pragma once
// The connection hub: one CAF actor running a table of connections (see
// include/parley/actors/connection.hpp for why hubs and not an actor per connection). It
// routes what the transport hands over to its connection, runs every reply continuation only
// while its connection is open, watches the presence actors holding its sessions, and is the
// exception boundary of its connections: a throw closes that connection only.

#include "connection/connection.hpp"

#include <caf/event_based_actor.hpp>

#include <exception>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace parley::actors {

class connection_hub final : public caf::event_based_actor {
 public:
  connection_hub(caf::actor_config& cfg, services* svc) : caf::event_based_actor(cfg), svc_(*svc) {}

  const char* name() const override { return "connection-hub"; }

  caf::behavior make_behavior() override;

  services& svc() { return svc_; }

  /// Runs `f` on connection `id` if it is open: every frame, push and reply continuation of a
  /// connection goes through here. An exception closes that connection only.
  template <class F>
  void on(std::uint64_t id, F&& f) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;  // closed meanwhile: late frames, pushes are dropped
    connection& c = *it->second;
    try {
      f(c);
    } catch (const std::exception& e) {
      c.on_internal_error(e.what());
    }
  }

  /// Monitors `presence` on behalf of connection `id`: one monitor per distinct actor, however
  /// many of our connections it holds sessions of.
  void watch(const caf::actor& presence, std::uint64_t id);
  void unwatch(const caf::actor_addr& presence, std::uint64_t id);

 private:
  /// Queues a push frame (encoded once by the actor that stored the record) on each
  /// connection.
  void push(const std::vector<std::uint64_t>& ids, const std::string& frame_bytes);
  void on_presence_down(const caf::actor_addr& presence);

  services& svc_;
  std::unordered_map<std::uint64_t, std::unique_ptr<connection>> connections_;
  /// The connections whose session each watched presence actor holds.
  std::unordered_map<caf::actor_addr, std::unordered_set<std::uint64_t>> watchers_;
};

template <class F, class... Ts>
void while_open<F, caf::detail::type_list<Ts...>>::operator()(Ts... xs) const {
  hub->on(id, [&](connection& c) {
    if (hub->svc().inject_fault) hub->svc().inject_fault("reply/" + c.user());
    f(std::forward<Ts>(xs)...);
  });
}

}  // namespace parley::actors
