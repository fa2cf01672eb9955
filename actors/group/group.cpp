// The group actor ("group/<g>"): members and their roles, and the gate of the group's
// conversation. Every membership change is one rewritten state record, durable before the
// answer, and recorded in the affected user's inbox (so that user's other devices learn of it).
// Sends, pulls and history reads of the group conversation come here first: non-members are
// refused, members are forwarded to "conv/group/<g>" (with the member list for fan-out).

#include "common/entity_actor.hpp"
#include "common/records.hpp"
#include "common/route.hpp"
#include "common/spawners.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/store/keys.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>

#include <algorithm>

namespace parley::actors {

namespace {

constexpr auto role_member = static_cast<std::uint16_t>(wire::GroupRole::MEMBER);
constexpr auto role_admin = static_cast<std::uint16_t>(wire::GroupRole::ADMIN);
constexpr auto role_owner = static_cast<std::uint16_t>(wire::GroupRole::OWNER);

class group_actor final : public entity_actor {
 public:
  group_actor(caf::actor_config& cfg, services* svc, std::string id, std::uint32_t shard)
      : entity_actor(cfg, svc, id, shard),
        group_(id_.substr(6)),
        state_key_(store::named_key(id_, store::record::state, "")),
        conversation_entity_(runtime::conversation_entity(runtime::group_conversation(group_))) {}

  caf::behavior make_behavior() override {
    if (auto st = load(); !st.ok()) return fail_activation(st);
    return {
        [this](create_atom, std::string& user, std::string& name) -> caf::result<group_info> {
          return create(user, name);
        },
        [this](join_atom, std::string& user) -> caf::result<group_info> { return join(user); },
        [this](leave_atom, std::string& user) -> caf::result<std::uint64_t> {
          return remove(user, user);
        },
        [this](kick_atom, std::string& by, std::string& user) -> caf::result<std::uint64_t> {
          return remove(by, user);
        },
        [this](send_atom, send_request& r) -> caf::result<send_ack> {
          if (auto err = check_member(r.sender)) return err;
          r.recipients.reserve(state_.members.size());
          for (auto& m : state_.members) r.recipients.push_back(m.user);
          return forward<send_ack>(send_atom::value, std::move(r));
        },
        [this](pull_atom, std::string& user, std::uint64_t after,
               std::uint32_t limit) -> caf::result<record_page> {
          if (auto err = check_member(user)) return err;
          return forward<record_page>(pull_atom::value, after, limit);
        },
        [this](history_atom, std::string& user, history_query& q) -> caf::result<record_page> {
          if (auto err = check_member(user)) return err;
          return forward<record_page>(history_atom::value, q);
        },
        commit_handler(),
        idle_handler(),
        drain_handler(),
    };
  }

 private:
  store::status load() {
    auto stored = svc_.db->get(shard_, state_key_);
    if (!stored) return stored.error();
    if (!*stored) return {};
    auto decoded = decode_group(**stored);
    if (!decoded) return {store::errc::corruption, "group state of " + id_ + " is unreadable"};
    state_ = std::move(*decoded);
    exists_ = true;
    return {};
  }

  group_member* find(const std::string& user) {
    auto it = std::find_if(state_.members.begin(), state_.members.end(),
                           [&](const group_member& m) { return m.user == user; });
    return it == state_.members.end() ? nullptr : &*it;
  }

  caf::error check_member(const std::string& user) {
    if (!exists_) return make_error(errc::not_found, "no group " + group_);
    if (!find(user)) return make_error(errc::not_member, user + " is not a member of " + group_);
    return {};
  }

  template <class T, class... Ts>
  caf::result<T> forward(Ts&&... xs) {
    auto rp = make_response_promise<T>();
    ask(
        this, svc_, conversation_entity_,
        [rp](T& answer) mutable { rp.deliver(std::move(answer)); },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, std::forward<Ts>(xs)...);
    return rp;
  }

  group_info info_for(const std::string& user) {
    auto* m = find(user);
    return group_info{group_, state_.name, m ? m->role : role_member};
  }

  caf::result<group_info> create(const std::string& user, const std::string& name) {
    if (exists_) {
      auto* m = find(user);
      // A retried create by its owner succeeds again (and re-announces, idempotently).
      if (m && m->role == role_owner && state_.name == name) {
        return announce_then<group_info>(user, wire::InboxEventKind::GROUP_JOINED, "",
                                         info_for(user));
      }
      return make_error(errc::already_exists, "group " + group_ + " exists");
    }
    state_.group = group_;
    state_.name = name;
    state_.created_ms = now_ms();
    state_.members.push_back({user, role_owner, state_.created_ms});
    exists_ = true;
    return persist_then_announce<group_info>(user, wire::InboxEventKind::GROUP_JOINED, "",
                                             info_for(user));
  }

  caf::result<group_info> join(const std::string& user) {
    if (!exists_) return make_error(errc::not_found, "no group " + group_);
    if (find(user)) {
      return announce_then<group_info>(user, wire::InboxEventKind::GROUP_JOINED, "",
                                       info_for(user));
    }
    state_.members.push_back({user, role_member, now_ms()});
    return persist_then_announce<group_info>(user, wire::InboxEventKind::GROUP_JOINED, "",
                                             info_for(user));
  }

  /// `by` removes `user` (by == user: leaving).
  caf::result<std::uint64_t> remove(const std::string& by, const std::string& user) {
    if (auto err = check_member(by)) return err;
    auto* target = find(user);
    if (!target) return make_error(errc::not_member, user + " is not a member of " + group_);
    const bool leaving = by == user;
    if (!leaving) {
      const std::uint16_t by_role = find(by)->role;
      // Owners remove anyone; admins remove plain members; members remove nobody.
      if (by_role == role_member || (by_role == role_admin && target->role != role_member)) {
        return make_error(errc::forbidden, by + " may not remove " + user + " from " + group_);
      }
    }
    const bool owner_left = target->role == role_owner;
    state_.members.erase(state_.members.begin() + (target - state_.members.data()));
    if (owner_left && !state_.members.empty()) {
      // Ownership passes to the longest-standing admin, else the longest-standing member.
      auto heir = std::find_if(state_.members.begin(), state_.members.end(),
                               [](const group_member& m) { return m.role == role_admin; });
      if (heir == state_.members.end()) heir = state_.members.begin();
      heir->role = role_owner;
    }
    return persist_then_announce<std::uint64_t>(
        user, leaving ? wire::InboxEventKind::GROUP_LEFT : wire::InboxEventKind::KICKED_FROM_GROUP,
        leaving ? "" : by, std::uint64_t{0});
  }

  /// Makes the new state durable, records the event in `user`'s inbox, then answers `answer`.
  template <class T>
  caf::result<T> persist_then_announce(const std::string& user, wire::InboxEventKind kind,
                                       const std::string& actor, T answer) {
    ++state_.version;
    store::write_batch batch;
    batch.put(shard_, state_key_, encode_group(state_));
    auto rp = make_response_promise<T>();
    commit(std::move(batch),
           [this, rp, user, kind, actor, answer](const store::status& st) mutable {
             if (!st.ok()) {
               rp.deliver(storage_error(st));
               return;
             }
             announce(rp, user, kind, actor, std::move(answer));
           });
    return rp;
  }

  template <class T>
  caf::result<T> announce_then(const std::string& user, wire::InboxEventKind kind,
                               const std::string& actor, T answer) {
    auto rp = make_response_promise<T>();
    announce(rp, user, kind, actor, std::move(answer));
    return rp;
  }

  template <class T>
  void announce(caf::typed_response_promise<T> rp, const std::string& user,
                wire::InboxEventKind kind, const std::string& actor, T answer) {
    inbox_event_spec spec;
    spec.kind = static_cast<std::uint16_t>(kind);
    spec.group = group_;
    spec.actor = actor;
    ask(
        this, svc_, runtime::user_entity(user),
        [rp, answer](std::uint64_t) mutable { rp.deliver(std::move(answer)); },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, announce_atom::value,
        std::move(spec));
  }

  const std::string group_;
  const std::string state_key_;
  const std::string conversation_entity_;
  bool exists_ = false;
  group_record state_;
};

}  // namespace

caf::actor spawn_group(services& svc, const std::string& id, std::uint32_t shard) {
  return svc.system->spawn<group_actor, caf::lazy_init>(&svc, id, shard);
}

}  // namespace parley::actors
