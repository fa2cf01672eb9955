#include "parley/actors/app_calls.hpp"

#include "common/route.hpp"
#include "group/group.hpp"
#include "presence/presence.hpp"
#include "user/user.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>

#include <memory>

namespace parley::actors {

namespace {

// Every actor here is spawned with the services as an argument: CAF 0.17 dereferences a null
// argument tuple when a function-based actor takes none (UBSan: reference binding to null).

/// Asks `entity` once from a short-lived actor and hands the reply (or the error) to `done`.
template <class Reply, class Interface, class... Ts>
void ask_once(services& svc, entity_handle<Interface> entity,
              std::function<void(result<Reply>)> done, Ts... xs) {
  auto finish = std::make_shared<std::function<void(result<Reply>)>>(std::move(done));
  svc.system->spawn(
      [entity, finish, xs...](caf::event_based_actor* self, services* svc) {
        ask(
            self, *svc, entity,
            [self, finish](Reply& reply) {
              (*finish)(std::move(reply));
              self->quit();
            },
            [self, finish](caf::error& err) {
              (*finish)(from_caf(err));
              self->quit();
            },
            xs...);
      },
      &svc);
}

/// The state of one create_group_as call, kept by its actor's continuations.
struct group_creation {
  services* svc;
  std::string owner;
  std::vector<std::string> members;
  std::size_t next = 0;
  group_info last;
  std::function<void(result<group_created>)> done;
};

void add_next(caf::event_based_actor* self, std::shared_ptr<group_creation> c) {
  if (c->next == c->members.size()) {
    c->done(group_created{c->last.group, c->last.name,
                          static_cast<std::uint32_t>(c->members.size() + 1)});
    return self->quit();
  }
  const std::string member = c->members[c->next++];
  ask(
      self, *c->svc, group::of(c->last.group),
      [self, c](group_info& info) {
        c->last = std::move(info);
        add_next(self, c);
      },
      [self, c, member](caf::error& err) {
        c->done(from_caf(err).context("adding " + member));
        self->quit();
      },
      add_atom::value, c->owner, member);
}

}  // namespace

void create_group_as(services& svc, std::string owner, validated_group_create create,
                     std::vector<std::string> members,
                     std::function<void(result<group_created>)> done) {
  auto c = std::make_shared<group_creation>(
      group_creation{&svc, std::move(owner), std::move(members), 0, {}, std::move(done)});
  svc.system->spawn(
      [c, create = std::move(create)](caf::event_based_actor* self, services*) {
        ask(
            self, *c->svc, group::of(create.group),
            [self, c](group_info& info) {
              c->last = std::move(info);
              add_next(self, c);
            },
            [self, c](caf::error& err) {
              c->done(from_caf(err));
              self->quit();
            },
            create_atom::value, c->owner, create.spec);
      },
      &svc);
}

void send_as(services& svc, validated_send send, std::function<void(result<send_ack>)> done) {
  auto finish = std::make_shared<std::function<void(result<send_ack>)>>(std::move(done));
  svc.system->spawn(
      [finish, send = std::move(send)](caf::event_based_actor* self, services* s) mutable {
        auto& svc = *s;
        const entity_handle<conversation_log> log(std::move(send.entity));
        auto store = [self, &svc, finish, log](send_request r) {
          ask(
              self, svc, log,
              [self, finish](send_ack& ack) {
                (*finish)(std::move(ack));
                self->quit();
              },
              [self, finish](caf::error& err) {
                (*finish)(from_caf(err));
                self->quit();
              },
              send_atom::value, std::move(r));
        };
        const std::uint64_t bytes = send.request.body.size();
        if (svc.options.max_stored_bytes_per_user == 0) return store(std::move(send.request));
        // The sender's stored-bytes quota, as for a client's send (exactly this message's bytes).
        const auto sender = user::of(send.request.sender);  // before the request moves below
        ask(
            self, svc, sender,
            [store, r = std::move(send.request)](std::uint64_t) mutable { store(std::move(r)); },
            [self, finish](caf::error& err) {
              (*finish)(from_caf(err));
              self->quit();
            },
            grant_atom::value, bytes, bytes);
      },
      &svc);
}

void kick_sessions(services& svc, std::string user, std::string device, std::string detail,
                   std::function<void(result<std::uint64_t>)> done) {
  const auto presence = presence::of_user(svc, user);
  ask_once<std::uint64_t>(
      svc, presence, std::move(done), kickuser_atom::value, std::move(user), std::move(device),
      static_cast<std::uint16_t>(wire::KickReason::KICKED_BY_APP), std::move(detail));
}

void sessions_of(services& svc, std::string user,
                 std::function<void(result<std::vector<session_info>>)> done) {
  const auto presence = presence::of_user(svc, user);
  ask_once<std::vector<session_info>>(svc, presence, std::move(done), sessions_atom::value,
                                      std::move(user));
}

void revoke_tokens(services& svc, std::string user,
                   std::function<void(result<std::uint64_t>)> done) {
  const auto presence = presence::of_user(svc, user);
  ask_once<std::uint64_t>(svc, presence, std::move(done), revoke_atom::value, std::move(user));
}

void ban_user(services& svc, std::string user, ban_spec ban,
              std::function<void(result<std::uint64_t>)> done) {
  const auto presence = presence::of_user(svc, user);
  ask_once<std::uint64_t>(svc, presence, std::move(done), ban_atom::value, std::move(user),
                          std::move(ban));
}

void unban_user(services& svc, std::string user, std::function<void(result<bool>)> done) {
  const auto presence = presence::of_user(svc, user);
  ask_once<bool>(svc, presence, std::move(done), unban_atom::value, std::move(user));
}

}  // namespace parley::actors
