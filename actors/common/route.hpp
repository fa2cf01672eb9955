#pragma once
// Asking another virtual actor something, by id, through the router.

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/node_gate.hpp"
#include "parley/runtime/router.hpp"

#include <caf/event_based_actor.hpp>

#include <string>
#include <utility>

namespace parley::actors {

/// Sends a request (Await: awaited, else then) to the activation of `entity_id`, wherever it lives,
/// and installs `on_ok` / `on_error` as its continuation in `self`. A remote entity is reached
/// through its node's gate (which delegates, so the entity answers us directly); one whose shard is
/// moving, through our own gate, which holds the request until the move ends. If nobody can take it
/// (shard unavailable, node stopping), `on_error` runs at once with `unavailable`.
template <bool Await, class OnOk, class OnError, class... Ts>
void ask_as(caf::event_based_actor* self, services& svc, const std::string& entity_id, OnOk on_ok,
            OnError on_error, const Ts&... xs) {
  bool sent = false;
  const auto timeout = svc.options.request_timeout.count() > 0
                           ? caf::duration(svc.options.request_timeout)
                           : caf::duration(caf::infinite);
  auto status = svc.router->send_to(
      entity_id,
      [&](const caf::actor& dest) {
        auto handle = self->request(dest, timeout, xs...);
        if constexpr (Await)
          handle.await(on_ok, on_error);
        else
          handle.then(on_ok, on_error);
        sent = true;
      },
      [&](const caf::actor& gate, bool parked) {
        auto handle = self->request(
            gate, caf::duration(svc.options.remote_request_timeout), runtime::route_atom::value,
            entity_id, parked ? runtime::parked_hop : std::uint8_t{0}, caf::make_message(xs...));
        auto on_remote_error = [on_error, entity_id](caf::error& err) mutable {
          // A remote owner that does not answer is down or fenced: say so, retriably.
          if (classify(err).first == errc::timeout) {
            err = make_error(errc::unavailable,
                             "the node owning " + entity_id + " did not answer; retry");
          }
          on_error(err);
        };
        if constexpr (Await)
          handle.await(on_ok, on_remote_error);
        else
          handle.then(on_ok, on_remote_error);
        sent = true;
      });
  if (!sent || status == runtime::route_status::unavailable) {
    caf::error err = make_error(errc::unavailable, entity_id + " is not available on this node");
    on_error(err);
  }
}

/// ask_as without waiting: other messages are handled while the answer is outstanding.
template <class OnOk, class OnError, class... Ts>
void ask(caf::event_based_actor* self, services& svc, const std::string& entity_id, OnOk on_ok,
         OnError on_error, const Ts&... xs) {
  ask_as<false>(self, svc, entity_id, std::move(on_ok), std::move(on_error), xs...);
}

/// ask_as that suspends `self`'s other messages until the answer arrives (CAF's await): for a
/// decision that needs another actor's state at this point of the mailbox (a group reading
/// its conversation's head when a member joins). The asked actor must never ask back.
template <class OnOk, class OnError, class... Ts>
void ask_awaiting(caf::event_based_actor* self, services& svc, const std::string& entity_id,
                  OnOk on_ok, OnError on_error, const Ts&... xs) {
  ask_as<true>(self, svc, entity_id, std::move(on_ok), std::move(on_error), xs...);
}

/// The presence actor holding `user`'s sessions (actors/presence/presence.cpp).
inline std::string presence_of(services& svc, const std::string& user) {
  return runtime::presence_entity(svc.router->shard_of(runtime::user_entity(user)));
}

/// Fire-and-forget delivery to `entity_id` if it is active now (pushes to online users: a
/// presence actor is active exactly while some user of its shard is online).
template <class... Ts>
void tell_if_active(services& svc, const std::string& entity_id, const Ts&... xs) {
  svc.router->send_if_active(
      entity_id, [&](const caf::actor& dest) { caf::anon_send(dest, xs...); },
      [&](const caf::actor& gate, bool parked) {
        caf::anon_send(gate, runtime::route_active_atom::value, entity_id,
                       parked ? runtime::parked_hop : std::uint8_t{0}, caf::make_message(xs...));
      });
}

}  // namespace parley::actors
