#include "parley/schema/ids.hpp"

namespace parley::schema {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name_bytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string dm_conversation(std::string_view a, std::string_view b) {
  if (b < a) std::swap(a, b);
  std::string id = "dm/";
  id.append(a).append("/").append(b);
  return id;
}

std::string group_conversation(std::string_view group) {
  return "group/" + std::string(group);
}

std::string system_conversation(std::string_view user) {
  return "sys/" + std::string(user);
}

std::vector<std::string> conversation_ref::users() const {
  if (is_group) return {};
  if (is_system) return {user_a};
  return {user_a, user_b};
}

std::optional<conversation_ref> parse_conversation(std::string_view conversation) {
  conversation_ref ref;
  if (starts_with(conversation, "sys/")) {
    ref.is_system = true;
    ref.user_a = std::string(conversation.substr(4));
    if (!valid_name(ref.user_a)) return std::nullopt;
    return ref;
  }
  if (starts_with(conversation, "group/")) {
    ref.is_group = true;
    ref.group = std::string(conversation.substr(6));
    if (!valid_name(ref.group)) return std::nullopt;
    return ref;
  }
  if (!starts_with(conversation, "dm/")) return std::nullopt;
  auto rest = conversation.substr(3);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ref.user_a = std::string(rest.substr(0, slash));
  ref.user_b = std::string(rest.substr(slash + 1));
  if (!valid_name(ref.user_a) || !valid_name(ref.user_b) || !(ref.user_a < ref.user_b)) {
    return std::nullopt;
  }
  return ref;
}

}  // namespace parley::schema
