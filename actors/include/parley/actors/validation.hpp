#pragma once
// Request validation at the client edge, as pure functions: what each request kind must satisfy
// before it is sent to an entity, and the error (request category) a client gets when it does
// not. No actor, no
// socket: tests/actors checks every limit and bad input directly. The connection calls these
// and sends what they return to the entity whose interface serves it
// (actors/<entity>/<entity>.hpp).
//
//   Login        valid_device_id (the token is checked by runtime::token_authority)
//   Send         validate_send
//   Pull, MarkRead, History, Typing   validate_read (+ validate_history, page_limit)
//   ChangeMessage  validate_change
//   ReadReceipts   validate_read (+ at most max_receipt_seqs seqs)
//   friend and block requests, ListRelations   validate_relation
//   Sync         page_limit
//   CreateGroup  validate_create_group
//   JoinGroup, LeaveGroup     validate_group_ref
//   KickMember, AddMember     validate_member_change

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/errc.hpp"

#include "client.capnp.h"

#include <string>

namespace parley::actors {

/// A valid Send: the request for the entity that stores it, and that entity's router id (the
/// conversation, or the group, both serving conversation_log).
struct validated_send {
  send_request request;
  std::string entity;
};

/// Longest client message id and most mentions a Send may carry.
constexpr std::size_t max_client_msg_id = 128;
constexpr std::size_t max_mentions = 100;

/// Checks a Send from `user` on `device`: client message id 1-128 bytes, body 1 byte to
/// o.max_body_bytes, at most 100 mentions of valid user ids, a valid peer other than the
/// sender or a valid group, and a target kind this server knows.
result<validated_send> validate_send(wire::Send::Reader s, const std::string& user,
                                     const std::string& device, const actor_options& o);

/// A device id: 1-128 bytes without control characters (it is shown to the user's other
/// devices).
bool valid_device_id(const std::string& device);

/// Whether `s` has no control characters (bytes below 0x20, and 0x7f).
bool printable(const std::string& s);

/// The conversation a Pull, History or MarkRead from `user` names: well formed, and a direct
/// one must involve the user (forbidden otherwise: answered before anything is activated).
result<runtime::conversation_ref> validate_read(const std::string& conversation,
                                                const std::string& user);

/// The page size to use for a request asking `asked` entries: the default for 0, at most the
/// maximum.
std::uint32_t page_limit(std::uint32_t asked, const actor_options& o);

/// A History's start and page: before a seq (0: from the newest) or before a time (> 0).
result<history_query> validate_history(wire::History::Reader h, const actor_options& o);

/// A valid ChangeMessage: an edit, recall or delete for everyone as the send of a change (for
/// the conversation, or its group), or (`hide_only`) a delete for this user only.
struct validated_change {
  runtime::conversation_ref ref;
  send_request request;  ///< conversation, sender, device, client msg id, kind, target[, body]
  bool hide_only = false;
};

/// Checks a ChangeMessage from `user` on `device`: a conversation it may read, a seq > 0, and
/// (but for deleteForMe) a client message id as for a send, an edit's body as a send's, and
/// no change of a system conversation's messages (only the app writes there).
result<validated_change> validate_change(wire::ChangeMessage::Reader c, const std::string& user,
                                         const std::string& device, const actor_options& o);

/// Longest friend request message (and request to join or invitation message).
constexpr std::size_t max_friend_message = 256;

/// Longest time to live of a conversation's messages (setRetention): a hundred years.
constexpr std::uint64_t max_retention_seconds = 3153600000ULL;

/// A short note to another user (a request to join, an invitation): at most 256 bytes.
result<std::string> validate_note(capnp::Text::Reader note);

/// A friend or block request of `user` about `other`: a valid user id other than the caller,
/// and a message of at most 256 bytes.
error validate_relation(const std::string& user, const std::string& other,
                        const std::string& message);

/// A SetProfile from `user`: display name at most 64 bytes without control characters, avatar
/// URL "" or http(s) of at most 512 bytes, at most 20 fields with unique printable keys of
/// 1-32 bytes and values of at most 256 bytes, known visibilities. Answers the profile to store
/// (flat wire Profile with `user` and `now_ms` set).
result<std::string> validate_profile(wire::Profile::Reader p, const std::string& user,
                                     std::uint64_t now_ms);

/// An UpdateGroup: a valid group, a name of at most 128 bytes, an avatar URL as a profile's,
/// an announcement of at most 2048 bytes (the member limit is checked by the group).
struct validated_group_update {
  std::string group;
  group_update update;
};
result<validated_group_update> validate_update_group(wire::UpdateGroup::Reader u);

/// Most users one GetProfiles may ask about.
constexpr std::size_t max_profiles_per_request = 100;

/// Most seqs one ReadReceipts may ask about.
constexpr std::size_t max_receipt_seqs = 100;

/// Longest group name.
constexpr std::size_t max_group_name = 128;

/// A valid CreateGroup: the group id ("" when the server is to choose one) and how to create it.
struct validated_group_create {
  std::string group;
  group_spec spec;
};

/// Checks a CreateGroup: a valid group id or none, a name of at most 128 bytes, a join policy
/// this server knows.
result<validated_group_create> validate_create_group(wire::CreateGroup::Reader c);

/// The group a JoinGroup or LeaveGroup names, if valid.
result<std::string> validate_group_ref(wire::GroupRef::Reader g);

/// A KickMember or AddMember: a valid group and a valid user.
struct validated_member_change {
  std::string group;
  std::string user;
};
result<validated_member_change> validate_member_change(const std::string& group,
                                                       const std::string& user);

}  // namespace parley::actors
