#pragma once
// Encoding of the records entity actors store: messages, inbox events, group state. Values are
// flat Cap'n Proto messages (schema/client.capnp, schema/records.capnp).

#include "parley/actors/messages.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::actors {

/// Milliseconds since the epoch, now.
std::uint64_t now_ms();
/// Microseconds since the epoch, now.
std::uint64_t now_us();
/// `unix_ms` as UTC ISO 8601 to the second ("2026-12-03T10:00:00Z"), for messages to people.
std::string iso_time(std::uint64_t unix_ms);

/// A stored wire::Message for `r` at `seq`, `timestamp_ms`; `number`: messages (kind normal)
/// up to and including it.
std::string encode_message(const send_request& r, std::uint64_t seq, std::uint64_t timestamp_ms,
                           std::uint64_t number);
/// The timestamp of a stored message; nullopt if the bytes are not a message.
std::optional<std::uint64_t> message_timestamp(const std::string& stored);

/// Whether `r` carries content: a message or an edit (not a recall or delete). Content is what
/// the app's before-send hook judges and what a block or a mute forbids.
bool carries_content(const send_request& r);

/// What a change (edit, recall, delete) needs to know of the stored message it changes.
struct message_facts {
  std::string sender;
  std::uint64_t timestamp_ms = 0;
  std::uint16_t kind = 0;   ///< wire::MessageKind value.
  std::uint16_t state = 0;  ///< wire::MessageState value.
  std::vector<std::uint64_t> edits;
  std::vector<std::string> mentions;
  bool mentions_all = false;
  std::uint64_t number = 0;  ///< Messages (kind normal) up to and including it.
};
/// The facts of a stored message; nullopt if the bytes are not a message.
std::optional<message_facts> read_message_facts(const std::string& stored);
/// `stored` (a message) as it is after the change `change` stored at `change_seq`: an edit
/// replaces content type and body and lists the edit; a recall or delete empties the body and
/// the mentions.
std::string rewrite_message(const std::string& stored, const send_request& change,
                            std::uint64_t change_seq);
/// `stored` (an edit entry) without its body: its message was recalled or deleted.
std::string strip_body(const std::string& stored);
/// `stored` (any entry) as retention leaves a conversation's newest entry once it expired: no
/// body, no mentions; a message's state is deleted (changedAtSeq 0).
std::string expired_entry(const std::string& stored);

/// A stored wire::InboxEvent.
std::string encode_event(const inbox_event_spec& spec, std::uint64_t seq,
                         std::uint64_t timestamp_ms);

/// The ServerFrame that pushes a stored message (`is_message`) or inbox event to a client,
/// stream-framed, as bytes. The actor that stores the record encodes it once; presence actors
/// and connection hubs pass it on as is, whatever the number of recipients.
/// Events of the app's feed (app.capnp Event, without shard and seq: the store numbers them).
std::string encode_message_stored(const send_request& r, std::uint64_t seq,
                                  std::uint64_t timestamp_ms);
std::string encode_session_change(bool opened, const std::string& user, const std::string& device,
                                  std::uint16_t device_type, const std::string& node);
std::string encode_group_change(const std::string& group, const std::string& user,
                                const inbox_event_spec& spec);

std::string encode_push_frame(const std::string& stored, bool is_message);
/// An encoded ServerFrame push: `user` is typing in `conversation`.
std::string encode_typing_frame(const std::string& conversation, const std::string& user);
/// An encoded ServerFrame push: a watched user's presence.
std::string encode_presence_frame(const presence_entry& e);
/// An encoded ServerFrame push: `user` has read `conversation` up to `seq`.
std::string encode_read_frame(const std::string& conversation, const std::string& user,
                              std::uint64_t seq);

/// One member's standing in a group (its user id is the key of its record).
struct group_member {
  std::uint16_t role = 0;  ///< wire::GroupRole value.
  std::uint64_t joined_ms = 0;
  std::uint64_t visible_after_seq = 0;  ///< Reads see seqs above this.
  std::uint64_t muted_until_ms = 0;     ///< Muted by an admin until then (0: not muted).
};

std::string encode_group_member(const group_member& m);
std::optional<group_member> decode_group_member(const std::string& stored);

/// The persisted settings of a group (members and barred users are records of their own).
struct group_record {
  std::string group;
  std::string name;
  std::uint64_t created_ms = 0;
  std::uint64_t version = 0;
  std::uint32_t member_count = 0;
  std::uint16_t join_policy = 0;    ///< wire::JoinPolicy value.
  bool share_history = false;       ///< New members see from history_floor, not their join.
  std::uint64_t history_floor = 0;  ///< Seqs up to this predate the group (a reused id).
  std::string avatar_url;
  std::string announcement;
  bool muted_all = false;         ///< Only admins and the owner send.
  std::uint32_t max_members = 0;  ///< This group's member limit (0: the node's).
  /// Only from a record written before member records: its members (in join order) and
  /// barred users, to be moved into records of their own.
  std::vector<std::pair<std::string, group_member>> legacy_members;
  std::vector<std::string> legacy_barred;
};

std::string encode_group(const group_record& g);

/// A request to join a group or an invitation to it (records.capnp GroupPending).
struct group_pending {
  std::string message;
  std::uint64_t at_ms = 0;
  std::string by;                ///< An invitation's inviter.
  std::uint64_t expires_ms = 0;  ///< An invitation's lapse time (0: a request).
};

std::string encode_group_pending(const group_pending& p);
std::optional<group_pending> decode_group_pending(const std::string& stored);
std::optional<group_record> decode_group(const std::string& stored);

/// Who looks at a profile, for its visibilities.
enum class viewer_kind : std::uint8_t { stranger, a_friend, self };
/// The stored profile `stored` (a flat wire Profile, "" if none) of `user` as `viewer` sees
/// it: fields it may not see are left out (display name and avatar: emptied).
std::string profile_for(const std::string& stored, const std::string& user, viewer_kind viewer);

/// How a user stands with another (records::RelationRecord).
struct relation_record {
  std::uint16_t relation = 0;  ///< wire::Relation value.
  std::string message;         ///< A pending request's message.
  std::uint64_t since_ms = 0;
  std::uint64_t expires_ms = 0;  ///< A pending request's lapse time.
};

std::string encode_relation(const relation_record& r);
std::optional<relation_record> decode_relation(const std::string& stored);

/// A direct conversation's knowledge of its users' relation (records::PeerState).
struct peer_state {
  bool friends = false;
  std::vector<std::string> blocked_by;  ///< Which of the two blocked the other (0-2 users).
};

std::string encode_peer_state(const peer_state& p);
std::optional<peer_state> decode_peer_state(const std::string& stored);

/// What an app decided about a user's logins (records::UserAccess).
struct user_access {
  std::uint64_t revoked_at_us = 0;  ///< Tokens issued at or before this are refused (0: none).
  bool banned = false;
  std::uint64_t banned_until_ms = 0;  ///< 0: until lifted.
  std::string ban_reason;

  /// Whether a ban is in force at `now_ms`.
  bool banned_at(std::uint64_t now) const {
    return banned && (banned_until_ms == 0 || now < banned_until_ms);
  }
  /// Whether the record says nothing any more (it can be erased).
  bool empty() const { return revoked_at_us == 0 && !banned; }
};

std::string encode_access(const user_access& a);
std::optional<user_access> decode_access(const std::string& stored);

}  // namespace parley::actors
