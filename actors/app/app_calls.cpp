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

/// A change applied to a group's members one at a time (each waits for the previous one's
/// answer, as an app's calls in a row would), then `finish` with the count of changes made.
struct member_changes {
  services* svc;
  std::string group;
  std::vector<std::string> members;
  bool adding = true;  ///< add_atom as the app, else kick_atom as the app
  std::size_t next = 0;
  std::uint32_t changed = 0;
  std::function<void(caf::event_based_actor*, std::uint32_t)> finish;
  std::function<void(error)> fail;
};

void change_next(caf::event_based_actor* self, std::shared_ptr<member_changes> c) {
  if (c->next == c->members.size()) return c->finish(self, c->changed);
  const std::string member = c->members[c->next++];
  auto failed = [self, c, member](caf::error& err) {
    const error e = from_caf(err);
    if (!c->adding && e.is(errc::not_member)) return change_next(self, c);  // nothing to remove
    c->fail(e.context((c->adding ? "adding " : "removing ") + member));
    self->quit();
  };
  const auto group = group::of(c->group);
  if (c->adding) {
    ask(
        self, *c->svc, group,
        [self, c](group_info&) {
          ++c->changed;
          change_next(self, c);
        },
        failed, add_atom::value, group::by_app, member);
  } else {
    ask(
        self, *c->svc, group,
        [self, c](std::uint64_t) {
          ++c->changed;
          change_next(self, c);
        },
        failed, kick_atom::value, group::by_app, member);
  }
}

/// Runs `changes` in a short-lived actor.
void run_member_changes(services& svc, std::shared_ptr<member_changes> changes) {
  svc.system->spawn(
      [changes](caf::event_based_actor* self, services*) { change_next(self, changes); }, &svc);
}

}  // namespace

void create_group_as(services& svc, std::string owner, validated_group_create create,
                     std::vector<std::string> members,
                     std::function<void(result<group_created>)> done) {
  auto finish = std::make_shared<std::function<void(result<group_created>)>>(std::move(done));
  auto count = static_cast<std::uint32_t>(members.size() + 1);
  svc.system->spawn(
      [finish, owner = std::move(owner), create = std::move(create), members = std::move(members),
       count](caf::event_based_actor* self, services* svc) mutable {
        ask(
            self, *svc, group::of(create.group),
            [self, svc, finish, members = std::move(members), count](group_info& info) mutable {
              // Added as the owner would (by_app has the owner's authority).
              auto changes = std::make_shared<member_changes>();
              changes->svc = svc;
              changes->group = info.group;
              changes->members = std::move(members);
              changes->finish = [finish, info, count](caf::event_based_actor* s, std::uint32_t) {
                (*finish)(group_created{info.group, info.name, count});
                s->quit();
              };
              changes->fail = [finish](error e) { (*finish)(std::move(e)); };
              change_next(self, changes);
            },
            [self, finish](caf::error& err) {
              (*finish)(from_caf(err));
              self->quit();
            },
            create_atom::value, owner, create.spec);
      },
      &svc);
}

void add_members_as_app(services& svc, std::string group, std::vector<std::string> members,
                        std::function<void(result<std::uint32_t>)> done) {
  auto finish = std::make_shared<std::function<void(result<std::uint32_t>)>>(std::move(done));
  auto changes = std::make_shared<member_changes>();
  changes->svc = &svc;
  changes->group = group;
  changes->members = std::move(members);
  // Then the member count, as the group says.
  changes->finish = [finish, group, svc = &svc](caf::event_based_actor* self, std::uint32_t) {
    ask(
        self, *svc, group::of(group),
        [self, finish](group_summary& g) {
          (*finish)(g.members);
          self->quit();
        },
        [self, finish](caf::error& err) {
          (*finish)(from_caf(err));
          self->quit();
        },
        info_atom::value, group::by_app);
  };
  changes->fail = [finish](error e) { (*finish)(std::move(e)); };
  run_member_changes(svc, changes);
}

void remove_members_as_app(services& svc, std::string group, std::vector<std::string> members,
                           std::function<void(result<std::uint32_t>)> done) {
  auto finish = std::make_shared<std::function<void(result<std::uint32_t>)>>(std::move(done));
  auto changes = std::make_shared<member_changes>();
  changes->svc = &svc;
  changes->group = std::move(group);
  changes->members = std::move(members);
  changes->adding = false;
  changes->finish = [finish](caf::event_based_actor* self, std::uint32_t removed) {
    (*finish)(removed);
    self->quit();
  };
  changes->fail = [finish](error e) { (*finish)(std::move(e)); };
  run_member_changes(svc, changes);
}

void set_role_as_app(services& svc, std::string group, std::string user, std::uint16_t role,
                     std::function<void(result<group_info>)> done) {
  ask_once<group_info>(svc, group::of(group), std::move(done), role_atom::value, group::by_app,
                       std::move(user), role);
}

void transfer_as_app(services& svc, std::string group, std::string user,
                     std::function<void(result<group_info>)> done) {
  ask_once<group_info>(svc, group::of(group), std::move(done), transfer_atom::value, group::by_app,
                       std::move(user));
}

void dismiss_as_app(services& svc, std::string group,
                    std::function<void(result<std::uint64_t>)> done) {
  ask_once<std::uint64_t>(svc, group::of(group), std::move(done), dismiss_atom::value,
                          group::by_app);
}

void describe_group(services& svc, std::string group,
                    std::function<void(result<group_summary>)> done) {
  ask_once<group_summary>(svc, group::of(group), std::move(done), info_atom::value, group::by_app);
}

void group_members(services& svc, std::string group, std::string after, std::uint32_t limit,
                   std::function<void(result<member_page>)> done) {
  ask_once<member_page>(svc, group::of(group), std::move(done), members_atom::value, group::by_app,
                        std::move(after), limit);
}

void read_history(services& svc, std::string conversation, std::uint64_t before_seq,
                  std::uint32_t limit, std::function<void(result<record_page>)> done) {
  history_query q;
  q.before_seq = before_seq;
  q.limit = limit;
  ask_once<record_page>(svc, conversation::of(conversation), std::move(done), history_atom::value,
                        by_app, q);
}

void set_profile_as_app(services& svc, std::string user, std::string profile,
                        std::function<void(result<bool>)> done) {
  ask_once<bool>(svc, user::of(user), std::move(done), setprof_atom::value, std::move(profile));
}

void profile_of(services& svc, std::string user, std::function<void(result<std::string>)> done) {
  auto viewer = user;  // the user's own view: every field
  ask_once<std::string>(svc, user::of(user), std::move(done), getprof_atom::value,
                        std::move(viewer));
}

void relate_as_app(services& svc, std::string user, std::uint16_t op, std::string other,
                   std::string message, std::function<void(result<std::uint16_t>)> done) {
  ask_once<std::uint16_t>(svc, user::of(user), std::move(done), relate_atom::value, op,
                          std::move(other), std::move(message));
}

void set_retention_as_app(services& svc, std::string conversation, std::uint64_t ttl_ms,
                          std::function<void(result<std::uint64_t>)> done) {
  ask_once<std::uint64_t>(svc, conversation::of(conversation), std::move(done),
                          retention_atom::value, by_app, ttl_ms);
}

void inspect_entity(services& svc, std::string entity_id,
                    std::function<void(result<entity_report>)> done) {
  const auto presence = presence::of_shard(svc.router->shard_of(entity_id));
  ask_once<entity_report>(svc, presence, std::move(done), inspect_atom::value,
                          std::move(entity_id));
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
        // System messages (the app as sender) count against no user's quota.
        if (svc.options.max_stored_bytes_per_user == 0 || send.request.sender == by_app) {
          return store(std::move(send.request));
        }
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
