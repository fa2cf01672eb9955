#pragma once
// The ids clients see and send: user and group names, and conversation ids.
//
//   dm/<a>/<b>      the direct conversation of users a < b
//   group/<group>   the conversation of a group
//   sys/<user>      the system messages to one user (written by the app server only)
//
// User and group names are 1-128 bytes of [A-Za-z0-9_.@-]. These rules are part of the client
// protocol, so they live beside the schema: the node (runtime/entity_id.hpp builds entity ids
// on them), the client library and the tools all use these functions, never their own.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::schema {

/// Longest user or group name.
constexpr std::size_t max_name_bytes = 128;

/// Whether `name` is a valid user or group name.
bool valid_name(std::string_view name);

/// The direct conversation of two users: "dm/<min>/<max>".
std::string dm_conversation(std::string_view a, std::string_view b);
/// A group's conversation: "group/<name>".
std::string group_conversation(std::string_view group);

/// The system conversation of one user: "sys/<user>".
std::string system_conversation(std::string_view user);

/// A parsed conversation id.
struct conversation_ref {
  bool is_group = false;
  bool is_system = false;
  std::string group;           ///< For a group conversation.
  std::string user_a, user_b;  ///< Direct: user_a < user_b. System: user_a only.
  /// Whether `user` takes part (direct and system conversations; groups ask the group).
  bool involves(std::string_view user) const {
    return !is_group && !user.empty() && (user == user_a || user == user_b);
  }
  /// The users of a direct (two) or system (one) conversation; empty for a group.
  std::vector<std::string> users() const;
};

/// Parses "dm/a/b" (a < b, a != b, both valid), "group/g" or "sys/u"; nullopt if invalid.
std::optional<conversation_ref> parse_conversation(std::string_view conversation);

}  // namespace parley::schema
