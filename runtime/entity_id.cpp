#include "parley/runtime/entity_id.hpp"

#include <string>

namespace parley::runtime {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string user_entity(std::string_view user) {
  return "user/" + std::string(user);
}
std::string group_entity(std::string_view group) {
  return "group/" + std::string(group);
}

std::string conversation_entity(std::string_view conversation) {
  return "conv/" + std::string(conversation);
}

std::string presence_entity(std::uint32_t shard) {
  return "presence/" + std::to_string(shard);
}

std::optional<std::uint32_t> presence_shard(std::string_view entity_id) {
  constexpr std::string_view prefix = "presence/";
  if (!starts_with(entity_id, prefix)) return std::nullopt;
  const auto digits = entity_id.substr(prefix.size());
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  std::uint32_t shard = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    shard = shard * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return shard;
}

std::optional<entity_ref> parse_entity(std::string_view entity_id) {
  const auto kind = kind_of(entity_id);
  if (!kind) return std::nullopt;
  const auto slash = entity_id.find('/');
  entity_ref ref{*kind, std::string(entity_id.substr(slash + 1))};
  const bool well_formed = [&] {
    switch (*kind) {
      case entity_kind::user:
      case entity_kind::group:
        return valid_name(ref.name);
      case entity_kind::conversation:
        return parse_conversation(ref.name).has_value();
      case entity_kind::presence:
        return true;  // kind_of parsed the shard already
    }
    return false;
  }();
  if (!well_formed) return std::nullopt;
  return ref;
}

std::optional<entity_kind> kind_of(std::string_view entity_id) {
  if (starts_with(entity_id, "user/")) return entity_kind::user;
  if (starts_with(entity_id, "group/")) return entity_kind::group;
  if (starts_with(entity_id, "conv/")) return entity_kind::conversation;
  if (presence_shard(entity_id)) return entity_kind::presence;
  return std::nullopt;
}

}  // namespace parley::runtime
