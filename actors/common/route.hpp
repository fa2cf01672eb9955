#pragma once
// Asking another virtual actor something, by id, through the router.

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/runtime/router.hpp"

#include <caf/event_based_actor.hpp>

#include <string>
#include <utility>

namespace parley::actors {

/// Sends a request to the activation of `entity_id` and installs `on_ok` / `on_error` as its
/// continuation in `self`. If the router cannot deliver (shard not owned here, node stopping),
/// `on_error` runs at once with `unavailable`.
template <class OnOk, class OnError, class... Ts>
void ask(caf::event_based_actor* self, services& svc, const std::string& entity_id, OnOk on_ok,
         OnError on_error, Ts&&... xs) {
  bool sent = false;
  auto status = svc.router->with(entity_id, [&](const caf::actor& dest) {
    const auto timeout = svc.options.request_timeout.count() > 0
                             ? caf::duration(svc.options.request_timeout)
                             : caf::duration(caf::infinite);
    self->request(dest, timeout, std::forward<Ts>(xs)...).then(std::move(on_ok), on_error);
    sent = true;
  });
  if (!sent || status != runtime::route_status::delivered) {
    caf::error err = make_error(errc::unavailable, entity_id + " is not available on this node");
    on_error(err);
  }
}

/// Fire-and-forget delivery to `entity_id` if it is active now (pushes to online users).
template <class... Ts>
void tell_if_active(services& svc, const std::string& entity_id, Ts&&... xs) {
  svc.router->with_if_active(entity_id, [&](const caf::actor& dest) {
    caf::anon_send(dest, std::forward<Ts>(xs)...);
  });
}

}  // namespace parley::actors
