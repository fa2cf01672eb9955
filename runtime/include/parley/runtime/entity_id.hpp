#pragma once
// Entity ids: the stable addresses of virtual actors.
//
//   user/<user>                 a user: inbox, conversations, read cursors
//   group/<group>               a group: members and roles
//   conv/dm/<a>/<b>             the direct conversation of users a < b
//   conv/group/<group>          the conversation of a group
//   presence/<shard>            the sessions of the online users of one shard
//
// A presence id names its shard directly (shard_of maps it there), so a shard's presence actor
// lives, moves and fails over with the shard's users.
//
// A conversation's client-facing id drops the "conv/" prefix ("dm/a/b", "group/g").
// User and group names are 1-128 bytes of [A-Za-z0-9_.@-]; validate them at the edge with
// valid_name before building ids.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::runtime {

/// The kind of a virtual actor, from the first segment of its id.
enum class entity_kind { user, group, conversation, presence };

/// Longest user or group name.
constexpr std::size_t max_name_bytes = 128;

/// Whether `name` is a valid user or group name.
bool valid_name(std::string_view name);

/// "user/<name>".
std::string user_entity(std::string_view user);
/// "group/<name>".
std::string group_entity(std::string_view group);
/// "presence/<shard>".
std::string presence_entity(std::uint32_t shard);
/// The shard a presence id names; nullopt for any other id (or a malformed presence id).
std::optional<std::uint32_t> presence_shard(std::string_view entity_id);
/// Client-facing id of the direct conversation of two users: "dm/<min>/<max>".
std::string dm_conversation(std::string_view a, std::string_view b);
/// Client-facing id of a group's conversation: "group/<name>".
std::string group_conversation(std::string_view group);
/// Entity id of a conversation from its client-facing id: "conv/" + id.
std::string conversation_entity(std::string_view conversation);

/// A parsed client-facing conversation id.
struct conversation_ref {
  bool is_group = false;
  std::string group;           ///< For a group conversation.
  std::string user_a, user_b;  ///< For a direct conversation, user_a < user_b.
  /// Whether `user` takes part (direct conversations only; groups ask the group).
  bool involves(std::string_view user) const { return user == user_a || user == user_b; }
};

/// Parses "dm/a/b" (a < b, a != b, both valid) or "group/g"; nullopt if invalid.
std::optional<conversation_ref> parse_conversation(std::string_view conversation);

/// Kind of an entity id; nullopt if it has no known prefix.
std::optional<entity_kind> kind_of(std::string_view entity_id);

}  // namespace parley::runtime
