#pragma once
// Asking another virtual actor something, by id, through the router, checked at compile time.
//
// A virtual actor is reached by id (it may be inactive, or on another node), so callers cannot
// hold a CAF typed_actor handle. They hold an entity_handle<Interface> instead: the id plus the
// typed-actor interface the entity serves (declared in actors/<entity>/<entity>.hpp). ask() and
// tell_if_active() reject, at compile time, a request the interface does not list and a
// continuation that does not take its reply; the entity's behavior is checked against the same
// interface (entity_actor::serve), so both ends agree on every argument list.

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/node_gate.hpp"
#include "parley/runtime/router.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/response_type.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <type_traits>
#include <utility>

namespace parley::actors {

/// A virtual actor's router id and the interface it serves.
template <class Interface>
class entity_handle {
 public:
  explicit entity_handle(std::string id) : id_(std::move(id)) {}

  /// An entity serving more (a group) stands where less is asked (a conversation log).
  template <class Other, class = std::enable_if_t<caf::detail::tl_subset_of<
                             typename Interface::signatures, typename Other::signatures>::value>>
  entity_handle(entity_handle<Other> other) : id_(std::move(other).id()) {}  // NOLINT: implicit

  const std::string& id() const& { return id_; }
  std::string id() && { return std::move(id_); }

 private:
  std::string id_;
};

namespace detail {

template <class OnOk, class Outputs>
struct takes_reply;

template <class OnOk, class... Out>
struct takes_reply<OnOk, caf::detail::type_list<Out...>> : std::is_invocable<OnOk, Out&...> {};

template <class OnOk>
struct takes_reply<OnOk, caf::detail::type_list<void>> : std::is_invocable<OnOk> {};

template <class Interface, class... Ts>
using response_of = caf::response_type<typename Interface::signatures, std::decay_t<Ts>...>;

/// Whether an entity serving `Interface` takes the request `Ts...`.
template <class Interface, class... Ts>
constexpr bool serves = response_of<Interface, Ts...>::valid;

template <bool Valid, class Response>
struct outputs {
  using type = caf::detail::type_list<void>;  // no such request: serves<> reports it
};

template <class Response>
struct outputs<true, Response> {
  using type = typename Response::type;
};

/// The reply types of request `Ts...` to an entity serving `Interface`.
template <class Interface, class... Ts>
using reply_of = typename outputs<serves<Interface, Ts...>, response_of<Interface, Ts...>>::type;

}  // namespace detail

namespace detail {

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
          if (from_caf(err).is(errc::timeout)) {
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

/// Fails to compile unless an entity serving `Interface` takes the request `Ts...` and `OnOk`
/// takes its reply.
template <class Interface, class OnOk, class... Ts>
constexpr void check_request() {
  static_assert(serves<Interface, Ts...>, "the entity's interface has no such request");
  static_assert(takes_reply<OnOk, reply_of<Interface, Ts...>>::value,
                "the continuation does not take the entity's reply");
}

}  // namespace detail

/// Sends `xs...` to `to` and runs `on_ok` with its reply (or `on_error`) in `self`; other
/// messages are handled while the answer is outstanding.
template <class Interface, class OnOk, class OnError, class... Ts>
void ask(caf::event_based_actor* self, services& svc, const entity_handle<Interface>& to,
         OnOk on_ok, OnError on_error, const Ts&... xs) {
  detail::check_request<Interface, OnOk, Ts...>();
  detail::ask_as<false>(self, svc, to.id(), std::move(on_ok), std::move(on_error), xs...);
}

/// ask() that suspends `self`'s other messages until the answer arrives (CAF's await): for a
/// decision that needs another actor's state at this point of the mailbox (a group reading
/// its conversation's head when a member joins). The asked actor must never ask back.
template <class Interface, class OnOk, class OnError, class... Ts>
void ask_awaiting(caf::event_based_actor* self, services& svc, const entity_handle<Interface>& to,
                  OnOk on_ok, OnError on_error, const Ts&... xs) {
  detail::check_request<Interface, OnOk, Ts...>();
  detail::ask_as<true>(self, svc, to.id(), std::move(on_ok), std::move(on_error), xs...);
}

/// Fire-and-forget delivery to `to` if it is active now (pushes to online users: a presence
/// actor is active exactly while some user of its shard is online).
template <class Interface, class... Ts>
void tell_if_active(services& svc, const entity_handle<Interface>& to, const Ts&... xs) {
  static_assert(detail::serves<Interface, Ts...>, "the entity's interface has no such message");
  const std::string& entity_id = to.id();
  svc.router->send_if_active(
      entity_id, [&](const caf::actor& dest) { caf::anon_send(dest, xs...); },
      [&](const caf::actor& gate, bool parked) {
        caf::anon_send(gate, runtime::route_active_atom::value, entity_id,
                       parked ? runtime::parked_hop : std::uint8_t{0}, caf::make_message(xs...));
      });
}

/// Fire-and-forget delivery to `to`, activating it if needed (a push that must reach the
/// presence actor even when nobody of its shard is online: it raises the offline notices).
template <class Interface, class... Ts>
void tell(services& svc, const entity_handle<Interface>& to, const Ts&... xs) {
  static_assert(detail::serves<Interface, Ts...>, "the entity's interface has no such message");
  const std::string& entity_id = to.id();
  svc.router->send_to(
      entity_id, [&](const caf::actor& dest) { caf::anon_send(dest, xs...); },
      [&](const caf::actor& gate, bool parked) {
        caf::anon_send(gate, runtime::route_atom::value, entity_id,
                       parked ? runtime::parked_hop : std::uint8_t{0}, caf::make_message(xs...));
      });
}

}  // namespace parley::actors
