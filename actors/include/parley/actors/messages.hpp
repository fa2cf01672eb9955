#pragma once
// The messages entity actors exchange, with their CAF type names registered in one place
// (register_message_types). Records that clients see (messages, inbox events) travel as the
// flat Cap'n Proto bytes they are stored as, so a pull returns stored bytes unchanged and a
// fan-out encodes once.
//
// Which entity serves which request, with which arguments and which reply, is declared once per
// entity as a CAF typed-actor interface (actors/<entity>/<entity>.hpp); senders and the
// entities' behaviors are both checked against it at compile time (actors/common/route.hpp).
// A handler answers with the listed type or with a Parley error (runtime/errc.hpp).

#include "parley/runtime/errc.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace parley::actors {

// -- atoms (CAF 0.17: at most 10 characters) --------------------------------------------------

using login_atom = caf::atom_constant<caf::atom("login")>;          ///< presence: add a session
using logout_atom = caf::atom_constant<caf::atom("logout")>;        ///< presence: end a session
using send_atom = caf::atom_constant<caf::atom("send")>;            ///< group/conv: send a message
using pull_atom = caf::atom_constant<caf::atom("pull")>;            ///< group/conv: read forward
using history_atom = caf::atom_constant<caf::atom("history")>;      ///< group/conv: read backward
using sync_atom = caf::atom_constant<caf::atom("sync")>;            ///< user: read the inbox
using read_atom = caf::atom_constant<caf::atom("markread")>;        ///< user: move a read cursor
using announce_atom = caf::atom_constant<caf::atom("announce")>;    ///< user: record an inbox event
using push_atom = caf::atom_constant<caf::atom("push")>;            ///< presence/hub: a push frame
using event_atom = caf::atom_constant<caf::atom("event")>;          ///< presence: an inbox event
using typing_atom = caf::atom_constant<caf::atom("typing")>;        ///< group: someone types
using kicked_atom = caf::atom_constant<caf::atom("kicked")>;        ///< hub: close the session
using create_atom = caf::atom_constant<caf::atom("gcreate")>;       ///< group: create
using join_atom = caf::atom_constant<caf::atom("gjoin")>;           ///< group: join
using leave_atom = caf::atom_constant<caf::atom("gleave")>;         ///< group: leave
using kick_atom = caf::atom_constant<caf::atom("gkick")>;           ///< group: remove a member
using add_atom = caf::atom_constant<caf::atom("gadd")>;             ///< group: add a member
using head_atom = caf::atom_constant<caf::atom("head")>;            ///< group/conv: last seq
using kickuser_atom = caf::atom_constant<caf::atom("kickuser")>;    ///< presence: end sessions
using canjoin_atom = caf::atom_constant<caf::atom("canjoin")>;      ///< user: below its group cap?
using grant_atom = caf::atom_constant<caf::atom("grant")>;          ///< user: lease storage quota
using refund_atom = caf::atom_constant<caf::atom("refund")>;        ///< user: return unused quota
using committed_atom = caf::atom_constant<caf::atom("committed")>;  ///< self: a write is durable
using open_atom = caf::atom_constant<caf::atom("open")>;            ///< hub: a socket was accepted
using frame_atom = caf::atom_constant<caf::atom("frame")>;          ///< hub: a frame arrived
using badframe_atom = caf::atom_constant<caf::atom("badframe")>;    ///< hub: unreadable stream
using closed_atom = caf::atom_constant<caf::atom("closed")>;        ///< hub: the socket closed
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;    ///< hub: close all, quit
using stopping_atom = caf::atom_constant<caf::atom("stopping")>;    ///< hub: kick all (node stops)
using tick_atom = caf::atom_constant<caf::atom("tick")>;            ///< self: periodic check
using drain_atom = caf::atom_constant<caf::atom("drain")>;          ///< entity: finish writes, quit
using reattach_atom = caf::atom_constant<caf::atom("reattach")>;    ///< hub: log in again
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;      ///< hub: login/heartbeat late
using sessions_atom = caf::atom_constant<caf::atom("sessions")>;    ///< presence: list sessions
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;        ///< presence: refuse old tokens
using ban_atom = caf::atom_constant<caf::atom("ban")>;              ///< presence: ban a user
using unban_atom = caf::atom_constant<caf::atom("unban")>;          ///< presence: lift a ban
using role_atom = caf::atom_constant<caf::atom("grole")>;           ///< group: set a role
using transfer_atom = caf::atom_constant<caf::atom("gtransfer")>;   ///< group: new owner
using dismiss_atom = caf::atom_constant<caf::atom("gdismiss")>;     ///< group: end it
using info_atom = caf::atom_constant<caf::atom("ginfo")>;           ///< group: describe it
using members_atom = caf::atom_constant<caf::atom("gmembers")>;     ///< group: list members
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;      ///< entity: describe itself
using events_atom = caf::atom_constant<caf::atom("events")>;        ///< presence: read event log
using feedwake_atom = caf::atom_constant<caf::atom("fwake")>;       ///< presence: new events
using feedtime_atom = caf::atom_constant<caf::atom("ftime")>;       ///< presence: a read waited
using receipts_atom = caf::atom_constant<caf::atom("receipts")>;    ///< group/conv: read state
using relate_atom = caf::atom_constant<caf::atom("relate")>;        ///< user: friend/block op
using peerrel_atom = caf::atom_constant<caf::atom("peerrel")>;      ///< user: the other side's op
using relations_atom = caf::atom_constant<caf::atom("relations")>;  ///< user: list relations
using peers_atom = caf::atom_constant<caf::atom("peers")>;          ///< conv: friends/blocks
using summary_atom = caf::atom_constant<caf::atom("summary")>;      ///< group/conv: list entry
using convlist_atom = caf::atom_constant<caf::atom("convlist")>;    ///< user: conversation list
using flags_atom = caf::atom_constant<caf::atom("convflags")>;      ///< user: mute/pin
using status_atom = caf::atom_constant<caf::atom("status")>;        ///< presence: set status
using watch_atom = caf::atom_constant<caf::atom("watch")>;          ///< presence: watch users
using setprof_atom = caf::atom_constant<caf::atom("setprof")>;      ///< user: set its profile
using getprof_atom = caf::atom_constant<caf::atom("getprof")>;      ///< user: read its profile
using update_atom = caf::atom_constant<caf::atom("gupdate")>;       ///< group: profile, settings
using mute_atom = caf::atom_constant<caf::atom("gmute")>;           ///< group: mute a member
using answerjoin_atom = caf::atom_constant<caf::atom("gansjoin")>;  ///< group: answer a request
using joinreqs_atom = caf::atom_constant<caf::atom("gjoinreqs")>;   ///< group: pending requests
using invite_atom = caf::atom_constant<caf::atom("ginvite")>;       ///< group: invite a user
using answerinv_atom = caf::atom_constant<caf::atom("gansinv")>;    ///< group: answer an invite
using retention_atom = caf::atom_constant<caf::atom("retention")>;  ///< conversation: set TTL
using expire_atom = caf::atom_constant<caf::atom("expire")>;  ///< conversation: drop what expired

/// The acting user id that stands for the app (schema/app.capnp): as `by` of a group change it
/// has the owner's authority; as a reader it reads any conversation; as a sender it sends
/// system messages (wire Message.sender ""). No client can act as it: a client's user id is
/// its token's, a valid (non-empty) name.
inline const std::string by_app;

// -- payloads -----------------------------------------------------------------------------------

/// A sorted, immutable list of user ids shared by reference: a group's members of one shard,
/// built when the membership changes and handed to every message's fan-out without a copy
/// (across nodes it travels as its ids).
class user_set {
 public:
  user_set() = default;
  /// Sorts `ids`.
  explicit user_set(std::vector<std::string> ids) {
    std::sort(ids.begin(), ids.end());
    ids_ = std::make_shared<const std::vector<std::string>>(std::move(ids));
  }
  /// Shares `sorted` (which must be sorted and is never changed after).
  explicit user_set(std::shared_ptr<const std::vector<std::string>> sorted)
      : ids_(std::move(sorted)) {}

  const std::vector<std::string>& ids() const { return ids_ ? *ids_ : empty(); }
  std::size_t size() const { return ids_ ? ids_->size() : 0; }
  bool contains(const std::string& id) const {
    return ids_ && std::binary_search(ids_->begin(), ids_->end(), id);
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, user_set& x) {
    std::vector<std::string> ids = x.ids();  // copied only to serialize or print
    return f(caf::meta::type_name("parley.user_set"), ids, caf::meta::load_callback([&] {
               x.ids_ = std::make_shared<const std::vector<std::string>>(std::move(ids));
               return caf::error{};
             }));
  }

 private:
  static const std::vector<std::string>& empty() {
    static const std::vector<std::string> none;
    return none;
  }
  std::shared_ptr<const std::vector<std::string>> ids_;
};

/// The users of one shard that a message goes to (a group's fan-out: one entry per shard).
struct shard_users {
  std::uint32_t shard = 0;
  user_set users;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_users& x) {
  return f(caf::meta::type_name("parley.shard_users"), x.shard, x.users);
}

/// A message to append to a conversation. Built by the connection, completed by the group
/// actor (recipients) for group conversations.
struct send_request {
  std::string conversation;   ///< Client-facing conversation id ("dm/a/b", "group/g").
  std::string sender;         ///< Sending user.
  std::string device;         ///< Sending device (its own session gets no push).
  std::string client_msg_id;  ///< Idempotency key together with sender and device.
  std::uint32_t content_type = 0;
  std::string body;                     ///< Opaque bytes.
  std::vector<std::string> mentions;    ///< Mentioned users.
  std::vector<shard_users> recipients;  ///< Group fan-out targets (filled by the group actor).
  bool from_app = false;  ///< Sent through the app port: no before-send hook is asked.
  /// wire::MessageKind: a message, or an edit, recall or delete of the message `target`.
  std::uint16_t kind = 0;
  std::uint64_t target = 0;  ///< The seq a change applies to.
  /// The sender may change others' messages (a group admin or owner; filled by the group).
  bool by_admin = false;
  bool mention_all = false;  ///< @all (groups; the group refuses it from plain members).
};

/// Answer to a send: where the message landed.
struct send_ack {
  std::string conversation;
  std::uint64_t seq = 0;
  std::uint64_t timestamp_ms = 0;
};

/// A page of stored records (flat-encoded wire Message or InboxEvent structs).
struct record_page {
  std::vector<std::string> records;
  bool has_more = false;
};

/// Where to start a backward read: before a seq, or before a time (one of them non-zero, or
/// both zero for "from the newest"). Nothing at or below floor_seq is returned (a group member
/// reads from its join on).
struct history_query {
  std::uint64_t before_seq = 0;
  std::uint64_t before_time_ms = 0;
  std::uint32_t limit = 0;
  std::uint64_t floor_seq = 0;
};

/// An inbox event to record for a user (the user assigns seq and time).
struct inbox_event_spec {
  std::uint16_t kind = 0;      ///< wire::InboxEventKind value.
  std::string conversation;    ///< Conversation concerned, if any.
  std::string group;           ///< Group concerned, if any.
  std::string actor;           ///< User who caused it, if not the user itself.
  std::uint64_t arg_seq = 0;   ///< Kind-specific seq.
  std::uint16_t role = 0;      ///< roleChanged: the new wire::GroupRole.
  std::string text;            ///< relationChanged: a friend request's message.
  std::uint16_t relation = 0;  ///< relationChanged: the new wire::Relation with `actor`.
};

/// Answer to group create/join/add: the group and the role of the user concerned.
struct group_info {
  std::string group;
  std::string name;
  std::uint16_t role = 0;         ///< wire::GroupRole value.
  std::uint16_t join_policy = 0;  ///< wire::JoinPolicy value.
  bool share_history = false;     ///< Members read from before their join.
  bool pending = false;           ///< A join request waits for an admin (not a member yet).
};

/// A request to join a group, as its admins see it (wire JoinRequest).
struct join_request {
  std::string user;
  std::string message;
  std::uint64_t requested_ms = 0;
};

/// Who read a conversation how far (wire ReceiptPage).
struct read_receipts {
  /// Per asked seq: participants other than the asker whose cursor is at or past it.
  std::vector<std::uint32_t> counts;
  std::vector<std::string> users;   ///< Direct and system conversations: each participant...
  std::vector<std::uint64_t> seqs;  ///< ...and its read cursor.
};

/// What a user asks of its relation with another (relate_atom).
enum class relation_op : std::uint16_t {
  request,  ///< ask to be friends (accepts theirs if they asked first)
  accept,   ///< accept their request
  decline,  ///< decline their request
  cancel,   ///< withdraw one's request
  remove,   ///< end the friendship
  block,    ///< block them (ends friendship and requests)
  unblock,  ///< lift the block
};

/// What the other user's actor is told of a relation op (peerrel_atom), from its side.
enum class peer_op : std::uint16_t {
  asked,       ///< `from` asks to be friends
  accepted,    ///< `from` accepted our request
  declined,    ///< `from` declined our request
  cancelled,   ///< `from` withdrew its request
  unfriended,  ///< `from` ended the friendship
  blocked,     ///< `from` blocked us: no relation remains from our side either
};

/// What a direct conversation is told of its users' relation (peers_atom).
enum class peer_change : std::uint16_t { friends_on, friends_off, block_on, block_off };

/// One entry of a user's relations (wire RelationEntry).
struct relation_entry {
  std::string user;
  std::uint16_t relation = 0;  ///< wire::Relation value.
  std::string message;
  std::uint64_t since_ms = 0;
  std::uint64_t expires_ms = 0;
};

/// A page of a user's relations, by user id.
struct relation_page {
  std::vector<relation_entry> entries;
  bool has_more = false;
};

/// One conversation as its user's conversation list shows it (wire ConversationEntry).
struct conversation_summary {
  std::string conversation;
  std::uint64_t last_seq = 0;
  std::uint64_t last_ms = 0;
  std::string last_entry;  ///< The stored last entry the user may read ("" if none).
  std::uint64_t read_seq = 0;
  std::uint32_t unread = 0;
  std::uint32_t unread_mentions = 0;
  bool muted = false;              ///< Filled by the user actor.
  bool pinned = false;             ///< Filled by the user actor.
  std::uint64_t retention_ms = 0;  ///< The conversation's time to live (0: none).
};

/// One page of a conversation list.
struct conversation_list {
  std::vector<conversation_summary> entries;
  std::string next_cursor;
  bool has_more = false;
};

/// A user's presence as others see it (wire PresenceInfo).
struct presence_entry {
  std::string user;
  std::uint16_t status = 0;  ///< wire::PresenceStatus value (never invisible).
  std::uint64_t last_seen_ms = 0;
};

/// One online session of a user, as an app sees it.
struct session_info {
  std::string device;
  std::uint16_t device_type = 0;  ///< wire::DeviceType value.
  std::uint64_t since_ms = 0;     ///< When it logged in (unix ms, the presence node's clock).
  std::string node;               ///< The node whose client port the device is connected to.
};

/// Who logs in (or reattaches) with what: sent by a connection to its user's presence actor.
struct login_spec {
  std::string user;
  std::string device;
  std::uint16_t device_type = 0;      ///< wire::DeviceType value.
  std::uint64_t token_issued_us = 0;  ///< Issue time (unix µs) of the login's token (0: v1).
  std::string node;                   ///< The connection's node.
  /// When the connection was accepted (ns, steady clock of the process of its hub): of two
  /// connections of one device in one node process, the one accepted later wins, whichever
  /// login arrives last.
  std::uint64_t opened_ns = 0;
};

/// A ban of a user: in force until `until_ms` (0: until lifted).
struct ban_spec {
  std::uint64_t until_ms = 0;
  std::string reason;  ///< Shown to the user's clients (at most 256 bytes, checked at the edge).
};

/// A group as its members (and the app) see it.
struct group_summary {
  std::string group;
  std::string name;
  std::string owner;
  std::uint32_t members = 0;
  std::uint16_t join_policy = 0;  ///< wire::JoinPolicy value.
  bool share_history = false;
  std::uint64_t created_ms = 0;
  std::string avatar_url;
  std::string announcement;
  std::uint32_t max_members = 0;  ///< The limit in force.
  bool muted_all = false;
  std::uint16_t role = 0;  ///< The asker's wire::GroupRole (owner for the app).
};

/// A group's profile and settings as an admin sets them (wire UpdateGroup).
struct group_update {
  std::string name;
  std::string avatar_url;
  std::string announcement;
  std::uint32_t max_members = 0;
  bool muted_all = false;
};

/// One member in a member list.
struct member_entry {
  std::string user;
  std::uint16_t role = 0;  ///< wire::GroupRole value.
  std::uint64_t joined_ms = 0;
  std::uint64_t muted_until_ms = 0;
};

/// A page of a group's members, by user id.
struct member_page {
  std::vector<member_entry> members;
  bool has_more = false;
};

/// One named figure of an entity (inbox_head, last_seq, members, ...).
struct figure {
  std::string name;
  std::uint64_t value = 0;
};

/// What an operator sees of one entity (schema/app.capnp EntityReport).
struct entity_report {
  std::string entity;  ///< Its id ("user/alice").
  std::string node;    ///< The node owning its shard.
  std::uint32_t shard = 0;
  bool active = false;                 ///< Activated now (else passivated: figures from the store).
  std::uint64_t mailbox = 0;           ///< Messages waiting in its mailbox (active only).
  std::uint64_t writes_in_flight = 0;  ///< Writes not yet durable (active only).
  std::vector<figure> figures;
};

/// Part of a shard's event log (store/event_log.hpp): seqs[i] numbers payloads[i]; the read
/// went through `through` (continue after it).
struct event_slice {
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> payloads;
  std::uint64_t through = 0;
};

/// How a group is created.
struct group_spec {
  std::string name;
  std::uint16_t join_policy = 0;  ///< wire::JoinPolicy value (invite-only unless set).
  bool share_history = false;     ///< New members read earlier messages.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_request& x) {
  return f(caf::meta::type_name("parley.send_request"), x.conversation, x.sender, x.device,
           x.client_msg_id, x.content_type, x.body, x.mentions, x.recipients, x.from_app, x.kind,
           x.target, x.by_admin, x.mention_all);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_ack& x) {
  return f(caf::meta::type_name("parley.send_ack"), x.conversation, x.seq, x.timestamp_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_page& x) {
  return f(caf::meta::type_name("parley.record_page"), x.records, x.has_more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_query& x) {
  return f(caf::meta::type_name("parley.history_query"), x.before_seq, x.before_time_ms, x.limit,
           x.floor_seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbox_event_spec& x) {
  return f(caf::meta::type_name("parley.inbox_event_spec"), x.kind, x.conversation, x.group,
           x.actor, x.arg_seq, x.role, x.text, x.relation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_info& x) {
  return f(caf::meta::type_name("parley.group_info"), x.group, x.name, x.role, x.join_policy,
           x.share_history, x.pending);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_request& x) {
  return f(caf::meta::type_name("parley.join_request"), x.user, x.message, x.requested_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_summary& x) {
  return f(caf::meta::type_name("parley.group_summary"), x.group, x.name, x.owner, x.members,
           x.join_policy, x.share_history, x.created_ms, x.avatar_url, x.announcement,
           x.max_members, x.muted_all, x.role);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_update& x) {
  return f(caf::meta::type_name("parley.group_update"), x.name, x.avatar_url, x.announcement,
           x.max_members, x.muted_all);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_entry& x) {
  return f(caf::meta::type_name("parley.member_entry"), x.user, x.role, x.joined_ms,
           x.muted_until_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_page& x) {
  return f(caf::meta::type_name("parley.member_page"), x.members, x.has_more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, figure& x) {
  return f(caf::meta::type_name("parley.figure"), x.name, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entity_report& x) {
  return f(caf::meta::type_name("parley.entity_report"), x.entity, x.node, x.shard, x.active,
           x.mailbox, x.writes_in_flight, x.figures);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_slice& x) {
  return f(caf::meta::type_name("parley.event_slice"), x.seqs, x.payloads, x.through);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_spec& x) {
  return f(caf::meta::type_name("parley.group_spec"), x.name, x.join_policy, x.share_history);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_receipts& x) {
  return f(caf::meta::type_name("parley.read_receipts"), x.counts, x.users, x.seqs);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relation_entry& x) {
  return f(caf::meta::type_name("parley.relation_entry"), x.user, x.relation, x.message, x.since_ms,
           x.expires_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relation_page& x) {
  return f(caf::meta::type_name("parley.relation_page"), x.entries, x.has_more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conversation_summary& x) {
  return f(caf::meta::type_name("parley.conversation_summary"), x.conversation, x.last_seq,
           x.last_ms, x.last_entry, x.read_seq, x.unread, x.unread_mentions, x.muted, x.pinned,
           x.retention_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conversation_list& x) {
  return f(caf::meta::type_name("parley.conversation_list"), x.entries, x.next_cursor, x.has_more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_entry& x) {
  return f(caf::meta::type_name("parley.presence_entry"), x.user, x.status, x.last_seen_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_info& x) {
  return f(caf::meta::type_name("parley.session_info"), x.device, x.device_type, x.since_ms,
           x.node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, login_spec& x) {
  return f(caf::meta::type_name("parley.login_spec"), x.user, x.device, x.device_type,
           x.token_issued_us, x.node, x.opened_ns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ban_spec& x) {
  return f(caf::meta::type_name("parley.ban_spec"), x.until_ms, x.reason);
}

/// Registers every message type above with fixed names. Call on every node's config.
void register_message_types(caf::actor_system_config& cfg);

}  // namespace parley::actors
