// The group actor ("group/<g>"): members and their roles, and the gate of the group's
// conversation. A change writes the group's settings record (with the member count) and the
// records of the members it touched, durable before the answer, and is recorded in the
// affected user's inbox (so that user's other devices learn of it).
//
// Size: members are records of their own (record 'b', one per member; removed users barred
// from rejoining: 'x'), loaded by pages when the actor activates, held in an ordered map (member
// pages are id ranges). A join or a role change writes one small record, whatever the group's
// size; a message carries the members as shared per-shard id sets (no copy per message). A
// group stored before member records (its members a list inside the settings record) is read
// as such and moved into member records by its next change.
// Sends, pulls and history reads of the group conversation come here first: non-members are
// refused, members are forwarded to "conv/group/<g>" (with the member sets for fan-out).
//
// Authority: the owner sets roles, hands the group over and dismisses it; admins add and remove
// plain members; the app (group::by_app as `by`, schema/app.capnp) may do what the owner may.
//
// Access: a group is invite-only (admins add members) unless created open (anyone joins) or
// approval (anyone asks; the request, record 'j', waits for an admin's answer). Admins (any
// member, in an open group) invite users; an invitation (record 'v') admits its invitee when
// accepted, until it lapses. Both are bounded per group (max_pending_per_group). A member
// removed by an admin is barred from joining an open group until an admin adds them again. A member
// reads the messages after its join point (the conversation's last seq when it joined, asked of the
// conversation actor with this actor's other messages held back, so no send can slip between)
// unless the group shares history; even then nothing from before the group's creation
// (historyFloor) is visible.
//
// Lifecycle: the last member leaving dissolves the group: its state record is erased and the id
// may be created again. The new group's floor is the conversation's last seq at its creation,
// so nobody ever reads the old group's messages through it; seqs go on from there.

#include "group/group.hpp"
#include "presence/presence.hpp"
#include "user/user.hpp"

#include "common/entity_actor.hpp"
#include "common/records.hpp"
#include "common/route.hpp"
#include "common/spawners.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/store/keys.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace parley::actors {

namespace {

constexpr auto role_member = static_cast<std::uint16_t>(wire::GroupRole::MEMBER);
constexpr auto role_admin = static_cast<std::uint16_t>(wire::GroupRole::ADMIN);
constexpr auto role_owner = static_cast<std::uint16_t>(wire::GroupRole::OWNER);
constexpr auto policy_open = static_cast<std::uint16_t>(wire::JoinPolicy::OPEN);
constexpr auto policy_approval = static_cast<std::uint16_t>(wire::JoinPolicy::APPROVAL);

/// How a user comes to be admitted to a group.
enum class admission {
  joining,    ///< by itself (an open group)
  adding,     ///< added by an admin (or the app)
  approving,  ///< its request to join accepted by an admin
  invited,    ///< it accepted an invitation
};

class group_actor final : public entity_actor {
 public:
  group_actor(caf::actor_config& cfg, services* svc, std::string id, std::string name,
              std::uint32_t shard)
      : entity_actor(cfg, svc, std::move(id), shard),
        group_(std::move(name)),
        state_key_(store::named_key(id_, store::record::state, "")),
        conversation_(conversation::of(runtime::group_conversation(group_))) {}

  caf::behavior make_behavior() override {
    if (auto st = load()) return fail_activation(st);
    return serve<group::interface>(
        [this](create_atom, std::string& user, group_spec& spec) -> caf::result<group_info> {
          return create(user, spec);
        },
        [this](join_atom, std::string& user, std::string& message) -> caf::result<group_info> {
          if (exists_ && state_.join_policy == policy_approval && !find(user)) {
            return ask_to_join(user, message);
          }
          return admit(user, user, admission::joining);
        },
        [this](add_atom, std::string& by, std::string& user) -> caf::result<group_info> {
          return admit(by, user, admission::adding);
        },
        [this](answerjoin_atom, std::string& by, std::string& user,
               bool accept) -> caf::result<group_info> { return answer_request(by, user, accept); },
        [this](joinreqs_atom, std::string& by) -> caf::result<std::vector<join_request>> {
          if (auto err = check_admin(by, "see requests to join")) return err;
          return pending_requests();
        },
        [this](invite_atom, std::string& by, std::string& user, std::string& message)
            -> caf::result<std::uint64_t> { return invite(by, user, message); },
        [this](answerinv_atom, std::string& user, bool accept) -> caf::result<group_info> {
          return answer_invitation(user, accept);
        },
        [this](leave_atom, std::string& user) -> caf::result<std::uint64_t> {
          return remove(user, user);
        },
        [this](kick_atom, std::string& by, std::string& user) -> caf::result<std::uint64_t> {
          return remove(by, user);
        },
        [this](role_atom, std::string& by, std::string& user,
               std::uint16_t role) -> caf::result<group_info> { return set_role(by, user, role); },
        [this](transfer_atom, std::string& by, std::string& user) -> caf::result<group_info> {
          return transfer(by, user);
        },
        [this](dismiss_atom, std::string& by) -> caf::result<std::uint64_t> { return dismiss(by); },
        [this](info_atom, std::string& user) -> caf::result<group_summary> {
          if (auto err = check_reader(user)) return err;
          return summary(user);
        },
        [this](update_atom, std::string& by, group_update& update) -> caf::result<group_summary> {
          return apply(by, update);
        },
        [this](mute_atom, std::string& by, std::string& user, std::uint64_t until_ms)
            -> caf::result<std::uint64_t> { return mute(by, user, until_ms); },
        [this](members_atom, std::string& user, std::string& after,
               std::uint32_t limit) -> caf::result<member_page> {
          if (auto err = check_reader(user)) return err;
          return members_after(after, limit);
        },
        [this](typing_atom, std::string& user,
               std::string& /*device: all of the typer's are left out*/,
               std::string& frame) -> caf::result<std::uint64_t> {
          if (auto err = check_member(user)) return err;
          return tell_members_typing(user, frame);
        },
        [this](send_atom, send_request& r) -> caf::result<send_ack> {
          if (auto err = check_reader(r.sender)) return err;  // a member, or the app's system
          if (auto err = check_voice(r)) return err;
          if (r.mention_all && r.sender != by_app && find(r.sender)->role == role_member) {
            return make_error(errc::forbidden, "only admins mention everyone in " + group_);
          }
          if (r.kind != 0) {
            // An edit, recall or delete: admins (and the app) may recall or delete any
            // message of this group, never one from before its creation.
            if (r.target <= state_.history_floor) {
              return make_error(errc::not_found,
                                "no message " + std::to_string(r.target) + " in group " + group_);
            }
            auto* m = find(r.sender);
            r.by_admin = r.sender == by_app || (m != nullptr && m->role != role_member);
          }
          r.recipients = fan_out_sets();
          return forward<send_ack>(send_atom::value, std::move(r));
        },
        [this](pull_atom, std::string& user, std::uint64_t after,
               std::uint32_t limit) -> caf::result<record_page> {
          if (auto err = check_member(user)) return err;
          return forward<record_page>(pull_atom::value, user, std::max(after, visible_after(user)),
                                      limit);
        },
        [this](history_atom, std::string& user, history_query& q) -> caf::result<record_page> {
          if (auto err = check_member(user)) return err;
          q.floor_seq = std::max(q.floor_seq, visible_after(user));
          return forward<record_page>(history_atom::value, user, q);
        },
        [this](head_atom, std::string& user) -> caf::result<std::uint64_t> {
          if (auto err = check_member(user)) return err;
          return forward<std::uint64_t>(head_atom::value, user);
        },
        [this](summary_atom, std::string& user,
               std::uint64_t floor) -> caf::result<conversation_summary> {
          if (auto err = check_member(user)) return err;
          return forward<conversation_summary>(summary_atom::value, user,
                                               std::max(floor, visible_after(user)));
        },
        [this](read_atom, std::string& user, std::uint64_t seq) -> caf::result<std::uint64_t> {
          if (auto err = check_member(user)) return err;
          return forward<std::uint64_t>(read_atom::value, user, seq);
        },
        [this](retention_atom, std::string& by,
               std::uint64_t ttl_ms) -> caf::result<std::uint64_t> {
          if (auto err = check_admin(by, "set the retention")) return err;
          return forward<std::uint64_t>(retention_atom::value, by, ttl_ms);
        },
        [this](receipts_atom, std::string& user,
               std::vector<std::uint64_t>& seqs) -> caf::result<read_receipts> {
          if (auto err = check_member(user)) return err;
          return forward<read_receipts>(receipts_atom::value, user, std::move(seqs));
        });
  }

 private:
  error load() {
    auto stored = svc_.db->get(shard_, state_key_);
    if (!stored) return stored.error();
    if (!*stored) return {};
    auto decoded = decode_group(**stored);
    if (!decoded) return {store::errc::corruption, "group state of " + id_ + " is unreadable"};
    state_ = std::move(*decoded);
    exists_ = true;
    if (!state_.legacy_members.empty() || !state_.legacy_barred.empty()) {
      // Written before member records: held as records to write with the next change.
      for (auto& [user, m] : state_.legacy_members) put_member(user, m);
      for (auto& user : state_.legacy_barred) bar(user);
      state_.legacy_members.clear();
      state_.legacy_barred.clear();
    } else {
      if (auto err = load_records(
              store::record::member, [this](std::string user, const std::string& value) {
                auto m = decode_group_member(value);
                if (!m) return false;
                auto it = members_.emplace_hint(members_.end(), std::move(user), *m);
                index_member(it->first);  // in id order: appended
                return true;
              })) {
        return err;
      }
      if (auto err =
              load_records(store::record::barred, [this](std::string user, const std::string&) {
                barred_.emplace_hint(barred_.end(), std::move(user));
                return true;
              })) {
        return err;
      }
      for (auto* pending : {&requests_, &invitations_}) {
        const auto rec =
            pending == &requests_ ? store::record::join_request : store::record::invitation;
        if (auto err = load_records(rec, [pending](std::string user, const std::string& value) {
              auto p = decode_group_pending(value);
              if (!p) return false;
              pending->emplace_hint(pending->end(), std::move(user), std::move(*p));
              return true;
            })) {
          return err;
        }
      }
    }
    for (const auto& [user, m] : members_) {
      if (m.role == role_owner) owner_ = user;
    }
    return {};
  }

  /// Reads every record of kind `rec` in pages (bounded memory besides what is kept), handing
  /// each (name, value) to `take`, which says whether it could read it.
  template <class Take>
  error load_records(store::record rec, Take take) {
    constexpr std::size_t page = 4096;
    const std::string prefix = store::record_prefix(id_, rec);
    const std::string end = store::prefix_end(prefix);
    std::string begin = prefix;
    for (;;) {
      auto entries = svc_.db->scan(shard_, begin, end, page);
      if (!entries) return entries.error();
      for (auto& e : *entries) {
        if (!take(e.key.substr(prefix.size()), e.value)) {
          return {store::errc::corruption, "a member record of " + id_ + " is unreadable"};
        }
      }
      if (entries->size() < page) return {};
      begin = entries->back().key;
      begin.push_back('\0');  // the next key after it
    }
  }

  group_member* find(const std::string& user) {
    auto it = members_.find(user);
    return it == members_.end() ? nullptr : &it->second;
  }

  /// `user`'s member record, to be changed (and so written by the next persist).
  group_member* touch(const std::string& user) {
    auto* m = find(user);
    if (m) dirty_members_.insert(user);
    return m;
  }

  void put_member(const std::string& user, const group_member& m) {
    if (members_.insert_or_assign(user, m).second) index_member(user);
    dirty_members_.insert(user);
  }

  /// By value: callers may pass a key of members_ itself, which the erase frees.
  void erase_member(std::string user) {
    if (members_.erase(user) != 0) unindex_member(user);
    dirty_members_.insert(user);
    if (owner_ == user) owner_.clear();
  }

  /// The member ids of `user`'s shard, ready to change: copied first if a message in flight
  /// still holds them.
  std::vector<std::string>& shard_members_of(const std::string& user) {
    auto& ids = fan_out_[svc_.router->shard_of(runtime::user_entity(user))];
    if (!ids) {
      ids = std::make_shared<std::vector<std::string>>();
    } else if (ids.use_count() > 1) {
      ids = std::make_shared<std::vector<std::string>>(*ids);
    }
    return *ids;
  }

  void index_member(const std::string& user) {
    auto& ids = shard_members_of(user);
    ids.insert(std::lower_bound(ids.begin(), ids.end(), user), user);
  }

  void unindex_member(const std::string& user) {
    auto& ids = shard_members_of(user);
    auto it = std::lower_bound(ids.begin(), ids.end(), user);
    if (it != ids.end() && *it == user) ids.erase(it);
  }

  /// The members as one shared set per shard, for a message's fan-out (no copy of the ids).
  std::vector<shard_users> fan_out_sets() const {
    std::vector<shard_users> sets;
    sets.reserve(fan_out_.size());
    for (const auto& [shard, ids] : fan_out_) {
      if (!ids->empty()) {
        sets.push_back({shard, user_set(std::shared_ptr<const std::vector<std::string>>(ids))});
      }
    }
    return sets;
  }

  bool barred(const std::string& user) const { return barred_.count(user) != 0; }

  void bar(const std::string& user) {
    if (barred_.insert(user).second) dirty_barred_.insert(user);
  }

  void unbar(const std::string& user) {
    if (barred_.erase(user) != 0) dirty_barred_.insert(user);
  }

  /// The seq after which `user` (a member) reads.
  std::uint64_t visible_after(const std::string& user) {
    auto* m = find(user);
    return m ? m->visible_after_seq : UINT64_MAX;
  }

  /// Sends a typing frame to the online sessions of every member but `user` (none of its
  /// devices: the device is left out): one message per shard, to its presence actor if active
  /// (else nobody of that shard is online).
  std::uint64_t tell_members_typing(const std::string& user, const std::string& frame) {
    for (auto& [shard, users] : fan_out_sets()) {
      tell_if_active(svc_, presence::of_shard(shard), push_atom::value, std::move(users), frame,
                     user, std::string(), push_notice{});
    }
    return members_.size() - 1;
  }

  caf::error check_member(const std::string& user) {
    if (!exists_) return make_error(errc::not_found, "no group " + group_);
    if (!find(user)) return make_error(errc::not_member, user + " is not a member of " + group_);
    return {};
  }

  /// Members and the app read the group's description and member list.
  caf::error check_reader(const std::string& user) {
    if (user == group::by_app)
      return exists_ ? caf::error{} : make_error(errc::not_found, "no group " + group_);
    return check_member(user);
  }

  /// Only the owner (or the app) may do `what`.
  caf::error check_owner(const std::string& by, const std::string& what) {
    if (by == group::by_app) {
      return exists_ ? caf::error{} : make_error(errc::not_found, "no group " + group_);
    }
    if (auto err = check_member(by)) return err;
    if (find(by)->role != role_owner) {
      return make_error(errc::forbidden, "only the owner of " + group_ + " may " + what);
    }
    return {};
  }

  /// The group as `user` (a member, or the app) sees it.
  group_summary summary(const std::string& user) {
    auto* m = find(user);
    group_summary s;
    s.group = group_;
    s.name = state_.name;
    s.owner = owner_;
    s.members = static_cast<std::uint32_t>(members_.size());
    s.join_policy = state_.join_policy;
    s.share_history = state_.share_history;
    s.created_ms = state_.created_ms;
    s.avatar_url = state_.avatar_url;
    s.announcement = state_.announcement;
    s.max_members = static_cast<std::uint32_t>(member_limit());
    s.muted_all = state_.muted_all;
    s.role = m ? m->role : role_owner;  // the app has the owner's authority
    return s;
  }

  /// The member limit in force: the group's own, else the node's.
  std::size_t member_limit() const {
    return state_.max_members != 0 ? state_.max_members : svc_.options.max_group_members;
  }

  /// Whether `by` may manage the group's profile and mutes: an admin, the owner, or the app.
  caf::error check_admin(const std::string& by, const std::string& what) {
    if (by == by_app)
      return exists_ ? caf::error{} : make_error(errc::not_found, "no group " + group_);
    if (auto err = check_member(by)) return err;
    if (find(by)->role == role_member) {
      return make_error(errc::forbidden, "only admins " + what + " in " + group_);
    }
    return {};
  }

  /// Whether the sender of `r` may speak: plain members not while muted or while the group
  /// is muted for all (changes of their own messages are always allowed).
  caf::error check_voice(const send_request& r) {
    if (r.sender == by_app || !carries_content(r)) return {};
    auto* m = find(r.sender);
    if (m == nullptr || m->role != role_member) return {};
    if (state_.muted_all)
      return make_error(errc::forbidden, "only admins write in " + group_ + " now");
    if (m->muted_until_ms > now_ms()) {
      return make_error(errc::forbidden,
                        "you are muted in " + group_ + " until " + iso_time(m->muted_until_ms));
    }
    return {};
  }

  caf::result<group_summary> apply(const std::string& by, const group_update& u) {
    if (auto err = check_admin(by, "change the group's profile")) return err;
    if (u.max_members != 0 && u.max_members < members_.size()) {
      return make_error(errc::bad_request, group_ + " has " + std::to_string(members_.size()) +
                                               " members, more than that limit");
    }
    if (u.max_members > svc_.options.max_group_members) {
      return make_error(errc::bad_request, "the node's member limit is " +
                                               std::to_string(svc_.options.max_group_members));
    }
    state_.name = u.name;
    state_.avatar_url = u.avatar_url;
    state_.announcement = u.announcement;
    state_.max_members = u.max_members;
    state_.muted_all = u.muted_all;
    auto rp = make_response_promise<group_summary>();
    persist_then_announce(rp, {}, summary(by));
    return rp;
  }

  caf::result<std::uint64_t> mute(const std::string& by, const std::string& user,
                                  std::uint64_t until_ms) {
    if (auto err = check_admin(by, "mute members")) return err;
    auto* m = find(user);
    if (!m) return make_error(errc::not_member, user + " is not a member of " + group_);
    if (m->role != role_member)
      return make_error(errc::forbidden, "admins and the owner are not muted");
    touch(user)->muted_until_ms = until_ms;
    auto rp = make_response_promise<std::uint64_t>();
    persist_then_announce(rp, {}, until_ms);
    return rp;
  }

  /// Up to `limit` members (capped by max_page) with ids greater than `after`, by id.
  member_page members_after(const std::string& after, std::uint32_t limit) {
    const std::size_t want = page_size(limit);
    member_page page;
    auto it = members_.upper_bound(after);
    for (; it != members_.end() && page.members.size() < want; ++it) {
      const auto& m = it->second;
      page.members.push_back({it->first, m.role, m.joined_ms, m.muted_until_ms});
    }
    page.has_more = it != members_.end();
    return page;
  }

  std::size_t page_size(std::uint32_t limit) const {
    if (limit == 0) return svc_.options.default_page;
    return std::min<std::size_t>(limit, svc_.options.max_page);
  }

  /// The owner (or the app) makes `user` an admin or a plain member.
  caf::result<group_info> set_role(const std::string& by, const std::string& user,
                                   std::uint16_t role) {
    if (role != role_member && role != role_admin) {
      return make_error(errc::bad_request, "a role is member or admin; ownership is transferred");
    }
    if (auto err = check_owner(by, "set roles")) return err;
    auto* target = find(user);
    if (!target) return make_error(errc::not_member, user + " is not a member of " + group_);
    if (target->role == role_owner) {
      return make_error(errc::forbidden, "the owner's role changes only by a transfer");
    }
    if (target->role == role) return info_for(user);  // already so: nothing to record
    touch(user)->role = role;
    auto rp = make_response_promise<group_info>();
    persist_then_announce(rp, {role_event(user, by)}, info_for(user));
    return rp;
  }

  /// The owner (or the app) hands the group to member `user`; the old owner becomes an admin.
  caf::result<group_info> transfer(const std::string& by, const std::string& user) {
    if (auto err = check_owner(by, "transfer it")) return err;
    if (!find(user)) return make_error(errc::not_member, user + " is not a member of " + group_);
    if (owner_ == user) return info_for(user);
    std::vector<announcement> events;
    if (!owner_.empty()) {
      touch(owner_)->role = role_admin;
      events.push_back(role_event(owner_, by));
    }
    touch(user)->role = role_owner;
    owner_ = user;
    events.push_back(role_event(user, by));
    auto rp = make_response_promise<group_info>();
    persist_then_announce(rp, std::move(events), info_for(user));
    return rp;
  }

  /// The owner (or the app) ends the group: every member is told, the state is erased.
  caf::result<std::uint64_t> dismiss(const std::string& by) {
    if (auto err = check_owner(by, "dismiss it")) return err;
    std::vector<announcement> events;
    events.reserve(members_.size());
    for (const auto& entry : members_) {
      events.push_back({entry.first, event(wire::InboxEventKind::GROUP_DISMISSED, by)});
    }
    const std::uint64_t count = members_.size();
    while (!members_.empty()) erase_member(members_.begin()->first);  // a dissolved group
    auto rp = make_response_promise<std::uint64_t>();
    persist_then_announce(rp, std::move(events), count);
    return rp;
  }

  template <class T, class... Ts>
  caf::result<T> forward(Ts&&... xs) {
    auto rp = make_response_promise<T>();
    ask(
        this, svc_, conversation_, [rp](T& answer) mutable { rp.deliver(std::move(answer)); },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, std::forward<Ts>(xs)...);
    return rp;
  }

  /// Runs `then(rp, head)` with the conversation's last seq, handling nothing else meanwhile:
  /// every send this actor forwarded before is counted in it, none forwarded after is.
  template <class T, class Then>
  void with_head_then(caf::typed_response_promise<T> rp, Then then) {
    ask_awaiting(
        this, svc_, conversation_, [rp, then](std::uint64_t head) mutable { then(rp, head); },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, head_atom::value, id_);
  }

  /// Runs `then(rp)` once `user`'s actor says the user is below its group cap (or a member
  /// already), holding this group's other messages meanwhile; answers its error otherwise.
  template <class T, class Then>
  caf::result<T> after_cap_check(const std::string& user, Then then) {
    auto rp = make_response_promise<T>();
    ask_awaiting(
        this, svc_, user::of(user), [rp, then](bool) mutable { then(rp); },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, canjoin_atom::value, group_);
    return rp;
  }

  group_info info_for(const std::string& user) {
    auto* m = find(user);
    return group_info{
        group_, state_.name, m ? m->role : role_member, state_.join_policy, state_.share_history,
        false};
  }

  caf::result<group_info> create(const std::string& user, const group_spec& spec) {
    if (exists_) {
      auto* m = find(user);
      // A retried create by its owner succeeds again (and re-announces, idempotently).
      if (m && m->role == role_owner && state_.name == spec.name &&
          state_.join_policy == spec.join_policy && state_.share_history == spec.share_history) {
        return announce_then<group_info>(user, wire::InboxEventKind::GROUP_JOINED, "",
                                         info_for(user));
      }
      return make_error(errc::already_exists, "group " + group_ + " exists");
    }
    // The id may have been used by a group that dissolved: its messages stay invisible.
    return after_cap_check<group_info>(user, [this, user, spec](auto rp) {
      with_head_then(rp, [this, user, spec](auto rp, std::uint64_t head) mutable {
        if (exists_) {
          rp.deliver(make_error(errc::already_exists, "group " + group_ + " exists"));
          return;
        }
        state_ = group_record{};
        state_.group = group_;
        state_.name = spec.name;
        state_.join_policy = spec.join_policy;
        state_.share_history = spec.share_history;
        state_.history_floor = head;
        state_.created_ms = now_ms();
        put_member(user, {role_owner, state_.created_ms, head});
        owner_ = user;
        exists_ = true;
        persist_then_announce(rp, user, wire::InboxEventKind::GROUP_JOINED, "", info_for(user));
      });
    });
  }

  /// `user` becomes a member (see admission); `by` is who let it in (the user itself when
  /// joining, the inviter for an invitation).
  caf::result<group_info> admit(const std::string& by, const std::string& user, admission how) {
    if (!exists_) return make_error(errc::not_found, "no group " + group_);
    const bool joining = how == admission::joining;
    if (how == admission::adding && by != group::by_app) {
      auto* adder = find(by);
      if (!adder) return make_error(errc::not_member, by + " is not a member of " + group_);
      if (adder->role == role_member) {
        return make_error(errc::forbidden, "only admins add members to " + group_);
      }
    }
    if (find(user)) {
      return announce_then<group_info>(user, wire::InboxEventKind::GROUP_JOINED, joining ? "" : by,
                                       info_for(user));
    }
    if (joining && state_.join_policy != policy_open) {
      return make_error(errc::forbidden, group_ + " is invite-only: an admin must add you");
    }
    if (joining && barred(user)) {
      return make_error(errc::forbidden,
                        "you were removed from " + group_ + "; an admin must add you again");
    }
    if (members_.size() >= member_limit()) {
      return make_error(errc::limit_exceeded, group_ + " has reached its member limit of " +
                                                  std::to_string(member_limit()));
    }
    auto add = [this, by, user, joining](auto rp, std::uint64_t visible_after) {
      // Re-checked: other requests may have been handled while the head was asked for.
      if (!exists_) {
        rp.deliver(make_error(errc::not_found, "no group " + group_));
        return;
      }
      if (!find(user)) {
        put_member(user, {role_member, now_ms(), visible_after});
        unbar(user);
        drop_pending(requests_, dirty_requests_, user);
        drop_pending(invitations_, dirty_invitations_, user);
      }
      persist_then_announce(rp, user, wire::InboxEventKind::GROUP_JOINED, joining ? "" : by,
                            info_for(user));
    };
    return after_cap_check<group_info>(user, [this, add](auto rp) {
      if (state_.share_history) return add(rp, state_.history_floor);
      with_head_then(rp, add);
    });
  }

  // -- requests to join and invitations --

  using pending_map = std::map<std::string, group_pending>;

  static void drop_pending(pending_map& pending, std::set<std::string>& dirty,
                           const std::string& user) {
    if (pending.erase(user) != 0) dirty.insert(user);
  }

  /// Room for one more entry in `pending` (lapsed invitations are dropped first).
  caf::error check_pending_room(pending_map& pending, std::set<std::string>& dirty,
                                const char* what) {
    const auto now = now_ms();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.expires_ms != 0 && it->second.expires_ms <= now) {
        dirty.insert(it->first);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (pending.size() < svc_.options.max_pending_per_group) return {};
    return make_error(errc::limit_exceeded, group_ + " has " + std::to_string(pending.size()) +
                                                " pending " + what + "; answer some first");
  }

  /// The owner and the admins (one pass over the members: only for a new request to join).
  std::vector<std::string> managers() const {
    std::vector<std::string> out;
    for (const auto& [user, m] : members_) {
      if (m.role != role_member) out.push_back(user);
    }
    return out;
  }

  /// `user` asks to join an approval group: the request is kept and its managers are told.
  caf::result<group_info> ask_to_join(const std::string& user, const std::string& message) {
    auto info = info_for(user);
    info.pending = true;
    auto known = requests_.find(user);
    if (known != requests_.end() && known->second.message == message) return info;  // a retry
    if (known == requests_.end()) {
      if (auto err = check_pending_room(requests_, dirty_requests_, "requests to join")) {
        return err;
      }
    }
    requests_[user] = group_pending{message, now_ms(), std::string(), 0};
    dirty_requests_.insert(user);
    std::vector<announcement> events;
    for (auto& manager : managers()) {
      announcement a{manager, event(wire::InboxEventKind::JOIN_REQUESTED, user)};
      a.spec.text = message;
      events.push_back(std::move(a));
    }
    auto rp = make_response_promise<group_info>();
    persist_then_announce(rp, std::move(events), std::move(info));
    return rp;
  }

  caf::result<group_info> answer_request(const std::string& by, const std::string& user,
                                         bool accept) {
    if (auto err = check_admin(by, "answer requests to join")) return err;
    if (requests_.count(user) == 0) {
      return make_error(errc::not_found, "no request from " + user + " to join " + group_);
    }
    if (accept) return admit(by, user, admission::approving);
    drop_pending(requests_, dirty_requests_, user);
    auto rp = make_response_promise<group_info>();
    persist_then_announce(rp, user, wire::InboxEventKind::JOIN_DECLINED, by, info_for(user));
    return rp;
  }

  std::vector<join_request> pending_requests() const {
    std::vector<join_request> out;
    out.reserve(requests_.size());
    for (const auto& [user, p] : requests_) out.push_back({user, p.message, p.at_ms});
    std::sort(out.begin(), out.end(), [](const join_request& a, const join_request& b) {
      return std::tie(a.requested_ms, a.user) < std::tie(b.requested_ms, b.user);
    });
    return out;
  }

  /// `by` invites `user`: admins and the app any time, plain members in an open group (and
  /// not a user an admin removed). Answers when the invitation lapses.
  caf::result<std::uint64_t> invite(const std::string& by, const std::string& user,
                                    const std::string& message) {
    if (auto err = check_reader(by)) return err;
    const bool manager = by == by_app || find(by)->role != role_member;
    if (!manager && state_.join_policy != policy_open) {
      return make_error(errc::forbidden, "only admins invite to " + group_);
    }
    if (!manager && barred(user)) {
      return make_error(errc::forbidden, user + " was removed from " + group_ +
                                             "; only an admin may invite them back");
    }
    if (find(user)) return make_error(errc::already_exists, user + " is in " + group_ + " already");
    if (invitations_.count(user) == 0) {
      if (auto err = check_pending_room(invitations_, dirty_invitations_, "invitations")) {
        return err;
      }
    }
    const auto now = now_ms();
    const auto expires = now + static_cast<std::uint64_t>(svc_.options.group_invite_ttl.count());
    invitations_[user] = group_pending{message, now, by, expires};
    dirty_invitations_.insert(user);
    announcement a{user, event(wire::InboxEventKind::GROUP_INVITED, by)};
    a.spec.text = message;
    auto rp = make_response_promise<std::uint64_t>();
    persist_then_announce(rp, {std::move(a)}, expires);
    return rp;
  }

  caf::result<group_info> answer_invitation(const std::string& user, bool accept) {
    if (!exists_) return make_error(errc::not_found, "no group " + group_);
    auto it = invitations_.find(user);
    if (it == invitations_.end() || it->second.expires_ms <= now_ms()) {
      if (find(user)) return info_for(user);  // accepted already (a retry)
      return make_error(errc::not_found, "no invitation to " + group_ + " for " + user);
    }
    if (accept) return admit(it->second.by, user, admission::invited);
    drop_pending(invitations_, dirty_invitations_, user);
    auto rp = make_response_promise<group_info>();
    persist_then_announce(rp, {}, info_for(user));
    return rp;
  }

  /// `by` removes `user` (by == user: leaving). The last member leaving dissolves the group.
  caf::result<std::uint64_t> remove(const std::string& by, const std::string& user) {
    if (auto err = check_reader(by)) return err;  // a member, or the app
    auto* target = find(user);
    if (!target) return make_error(errc::not_member, user + " is not a member of " + group_);
    const bool leaving = by == user;
    if (!leaving) {
      // Owners (and the app) remove anyone; admins remove plain members; members nobody.
      const std::uint16_t by_role = by == group::by_app ? role_owner : find(by)->role;
      if (by_role == role_member || (by_role == role_admin && target->role != role_member)) {
        return make_error(errc::forbidden, by + " may not remove " + user + " from " + group_);
      }
      bar(user);
    }
    const bool owner_left = target->role == role_owner;
    erase_member(user);
    if (owner_left && !members_.empty()) {
      // Ownership passes to the longest-standing admin, else the longest-standing member (one
      // pass over the members: only when the owner leaves).
      auto standing = [](const std::pair<const std::string, group_member>& e) {
        return std::make_tuple(e.second.role != role_admin, e.second.joined_ms, e.first);
      };
      auto heir =
          std::min_element(members_.begin(), members_.end(),
                           [&](const auto& a, const auto& b) { return standing(a) < standing(b); });
      touch(heir->first)->role = role_owner;
      owner_ = heir->first;
    }
    auto rp = make_response_promise<std::uint64_t>();
    persist_then_announce(
        rp, user,
        leaving ? wire::InboxEventKind::GROUP_LEFT : wire::InboxEventKind::KICKED_FROM_GROUP,
        leaving ? "" : by, std::uint64_t{0});
    return rp;
  }

  /// An inbox event for one user.
  struct announcement {
    std::string user;
    inbox_event_spec spec;
  };

  inbox_event_spec event(wire::InboxEventKind kind, const std::string& actor) const {
    inbox_event_spec spec;
    spec.kind = static_cast<std::uint16_t>(kind);
    spec.group = group_;
    spec.actor = actor;
    return spec;
  }

  /// roleChanged for member `user`, with its role now.
  announcement role_event(const std::string& user, const std::string& by) {
    announcement a{user, event(wire::InboxEventKind::ROLE_CHANGED, by)};
    a.spec.role = find(user)->role;
    return a;
  }

  /// Makes the new state durable (an empty group: its state erased, it is dissolved), records
  /// each event in its user's inbox, then answers `answer` through `rp`.
  template <class T>
  void persist_then_announce(caf::typed_response_promise<T> rp, std::vector<announcement> events,
                             T answer) {
    ++state_.version;
    store::write_batch batch;
    if (members_.empty()) {
      // Dissolved: every member left (their records are dirty), the barred list is forgotten.
      for (const auto& user : barred_) dirty_barred_.insert(user);
      barred_.clear();
      for (const auto& entry : requests_) dirty_requests_.insert(entry.first);
      requests_.clear();
      for (const auto& entry : invitations_) dirty_invitations_.insert(entry.first);
      invitations_.clear();
      batch.erase(shard_, state_key_);
      exists_ = false;
      state_ = group_record{};
    } else {
      state_.member_count = static_cast<std::uint32_t>(members_.size());
      batch.put(shard_, state_key_, encode_group(state_));
    }
    write_dirty(batch);
    for (const auto& a : events) batch.event(shard_, encode_group_change(group_, a.user, a.spec));
    commit(std::move(batch), [this, rp, events = std::move(events),
                              answer = std::move(answer)](const error& st) mutable {
      if (!st.ok()) {
        rp.deliver(storage_error(st));
        return;
      }
      announce_all(rp, std::move(events), std::move(answer));
    });
  }

  template <class T>
  void persist_then_announce(caf::typed_response_promise<T> rp, const std::string& user,
                             wire::InboxEventKind kind, const std::string& actor, T answer) {
    persist_then_announce(rp, {{user, event(kind, actor)}}, std::move(answer));
  }

  template <class T>
  caf::result<T> announce_then(const std::string& user, wire::InboxEventKind kind,
                               const std::string& actor, T answer) {
    auto rp = make_response_promise<T>();
    announce_all(rp, {{user, event(kind, actor)}}, std::move(answer));
    return rp;
  }

  /// Records every event in its user's inbox (all asked at once), then answers `answer`, or
  /// the first failure, through `rp`.
  template <class T>
  void announce_all(caf::typed_response_promise<T> rp, std::vector<announcement> events, T answer) {
    if (events.empty()) {
      rp.deliver(std::move(answer));
      return;
    }
    struct progress {
      std::size_t left;
      caf::error failure;
      T answer;
    };
    // Every continuation runs in this actor: the count needs no synchronisation.
    auto p = std::make_shared<progress>(progress{events.size(), {}, std::move(answer)});
    auto one_done = [rp, p]() mutable {
      if (--p->left > 0) return;
      if (p->failure) {
        rp.deliver(std::move(p->failure));
      } else {
        rp.deliver(std::move(p->answer));
      }
    };
    for (auto& e : events) {
      ask(
          this, svc_, user::of(e.user), [one_done](std::uint64_t) mutable { one_done(); },
          [p, one_done](caf::error& err) mutable {
            if (!p->failure) p->failure = std::move(err);
            one_done();
          },
          announce_atom::value, std::move(e.spec));
    }
  }

  /// Puts (present) or erases (gone) the member and barred records changed since the last write.
  void write_dirty(store::write_batch& batch) {
    for (const auto& user : dirty_members_) {
      auto key = store::named_key(id_, store::record::member, user);
      auto it = members_.find(user);
      if (it == members_.end()) {
        batch.erase(shard_, std::move(key));
      } else {
        batch.put(shard_, std::move(key), encode_group_member(it->second));
      }
    }
    for (const auto& user : dirty_barred_) {
      auto key = store::named_key(id_, store::record::barred, user);
      if (barred(user)) {
        batch.put(shard_, std::move(key), std::string());
      } else {
        batch.erase(shard_, std::move(key));
      }
    }
    write_pending(batch, store::record::join_request, requests_, dirty_requests_);
    write_pending(batch, store::record::invitation, invitations_, dirty_invitations_);
    dirty_members_.clear();
    dirty_barred_.clear();
  }

  void write_pending(store::write_batch& batch, store::record rec, const pending_map& pending,
                     std::set<std::string>& dirty) {
    for (const auto& user : dirty) {
      auto key = store::named_key(id_, rec, user);
      auto it = pending.find(user);
      if (it == pending.end()) {
        batch.erase(shard_, std::move(key));
      } else {
        batch.put(shard_, std::move(key), encode_group_pending(it->second));
      }
    }
    dirty.clear();
  }

  void add_figures(std::vector<figure>& out) const override {
    out.push_back({"exists", exists_ ? 1u : 0u});
    out.push_back({"members", members_.size()});
    out.push_back({"barred", barred_.size()});
    out.push_back({"join_requests", requests_.size()});
    out.push_back({"invitations", invitations_.size()});
    out.push_back({"version", state_.version});
  }

  const std::string group_;
  const std::string state_key_;
  const entity_handle<conversation::interface> conversation_;  // the group's log
  bool exists_ = false;
  group_record state_;                           // settings; members and barred users below
  std::map<std::string, group_member> members_;  // by user id: member pages are id ranges
  std::set<std::string> barred_;
  std::string owner_;  // "" only while there are no members
  // The member ids by shard, sorted: a message's fan-out shares them (fan_out_sets()).
  std::map<std::uint32_t, std::shared_ptr<std::vector<std::string>>> fan_out_;
  // Records changed since the last write: put if present, erased if not.
  std::set<std::string> dirty_members_;
  std::set<std::string> dirty_barred_;
  pending_map requests_;     // requests to join, by requester
  pending_map invitations_;  // invitations, by invitee
  std::set<std::string> dirty_requests_;
  std::set<std::string> dirty_invitations_;
};

}  // namespace

caf::actor spawn_group(services& svc, const std::string& id, std::string name,
                       std::uint32_t shard) {
  return svc.system->spawn<group_actor, caf::lazy_init>(&svc, id, std::move(name), shard);
}

}  // namespace parley::actors
