#pragma once
// Entity ids: the stable addresses of virtual actors.
//
//   user/<user>                 a user: inbox, conversations, read cursors
//   group/<group>               a group: members and roles
//   conv/dm/<a>/<b>             the direct conversation of users a < b
//   conv/group/<group>          the conversation of a group
//   conv/sys/<user>             the system messages to one user
//   presence/<shard>            the sessions of the online users of one shard
//
// A presence id names its shard directly (shard_of maps it there), so a shard's presence actor
// lives, moves and fails over with the shard's users.
//
// A conversation's client-facing id (schema/ids.hpp: "dm/a/b", "group/g") is the entity id
// without "conv/". User and group names follow schema/ids.hpp; validate them at the edge with
// valid_name before building ids.

#include "parley/schema/ids.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::runtime {

// The client-facing id rules (schema/ids.hpp), under the names the node's code uses.
using schema::conversation_ref;
using schema::dm_conversation;
using schema::group_conversation;
using schema::max_name_bytes;
using schema::parse_conversation;
using schema::system_conversation;
using schema::valid_name;

/// The kind of a virtual actor, from the first segment of its id.
enum class entity_kind { user, group, conversation, presence };

/// "user/<name>".
std::string user_entity(std::string_view user);
/// "group/<name>".
std::string group_entity(std::string_view group);
/// "presence/<shard>".
std::string presence_entity(std::uint32_t shard);
/// The shard a presence id names; nullopt for any other id (or a malformed presence id).
std::optional<std::uint32_t> presence_shard(std::string_view entity_id);
/// Entity id of a conversation from its client-facing id: "conv/" + id.
std::string conversation_entity(std::string_view conversation);

/// Kind of an entity id; nullopt if it has no known prefix. (A prefix check only: use
/// parse_entity where the rest of the id matters.)
std::optional<entity_kind> kind_of(std::string_view entity_id);

/// A parsed entity id.
struct entity_ref {
  entity_kind kind;
  /// What follows the kind's prefix: the user or group name, the client-facing conversation
  /// id ("dm/a/b", "group/g"), or the presence actor's shard in decimal.
  std::string name;
};

/// The one parser of entity ids: the kind and a well-formed name, or nullopt (an unknown
/// prefix, an invalid user or group name, a malformed conversation or shard).
std::optional<entity_ref> parse_entity(std::string_view entity_id);

}  // namespace parley::runtime
