#include "parley/actors/validation.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/schema/framing.hpp"

#include <algorithm>

namespace parley::actors {

namespace {

using schema::text;

constexpr std::size_t max_device_id = 128;

error bad_request(std::string message) {
  return {errc::bad_request, std::move(message)};
}

/// "" or an http(s) URL of at most 512 bytes without control characters.
bool valid_url(const std::string& url) {
  constexpr std::size_t max_url = 512;
  if (url.empty()) return true;
  return url.size() <= max_url &&
         std::none_of(url.begin(), url.end(),
                      [](char c) {
                        const auto b = static_cast<unsigned char>(c);
                        return b < 0x20 || b == 0x7f;
                      }) &&
         (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0);
}

}  // namespace

namespace {

error check_client_msg_id(const std::string& id) {
  if (id.empty() || id.size() > max_client_msg_id)
    return bad_request("clientMsgId must be 1-128 bytes");
  return {};
}

error check_body(capnp::Data::Reader body, const actor_options& o) {
  if (body.size() == 0) return bad_request("empty message body");
  if (body.size() > o.max_body_bytes) {
    return bad_request("body exceeds " + std::to_string(o.max_body_bytes) + " bytes");
  }
  return {};
}

}  // namespace

result<validated_send> validate_send(wire::Send::Reader s, const std::string& user,
                                     const std::string& device, const actor_options& o) {
  validated_send v;
  auto& r = v.request;
  r.sender = user;
  r.device = device;
  r.client_msg_id = text(s.getClientMsgId());
  r.content_type = s.getContentType();
  if (auto err = check_client_msg_id(r.client_msg_id)) return err;
  auto body = s.getBody();
  if (auto err = check_body(body, o)) return err;
  r.body.assign(reinterpret_cast<const char*>(body.begin()), body.size());
  auto mentions = s.getMentions();
  if (mentions.size() > max_mentions) return bad_request("at most 100 mentions");
  for (auto m : mentions) {
    if (!runtime::valid_name(text(m))) return bad_request("invalid user id in mentions");
    r.mentions.push_back(text(m));
  }
  r.mention_all = s.getMentionAll();
  auto target = s.getTarget();
  if (target.isUser()) {
    const std::string peer = text(target.getUser());
    if (!runtime::valid_name(peer)) return bad_request("invalid user id");
    if (peer == user) return bad_request("cannot message yourself");
    if (r.mention_all) return bad_request("@all is for groups");
    r.conversation = runtime::dm_conversation(user, peer);
    v.entity = runtime::conversation_entity(r.conversation);
  } else if (target.isGroup()) {
    const std::string group = text(target.getGroup());
    if (!runtime::valid_name(group)) return bad_request("invalid group id");
    r.conversation = runtime::group_conversation(group);
    v.entity = runtime::group_entity(group);
  } else {  // a target kind this server does not know (a newer client's)
    return bad_request("unknown send target");
  }
  return v;
}

bool printable(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
}

bool valid_device_id(const std::string& device) {
  return !device.empty() && device.size() <= max_device_id && printable(device);
}

result<runtime::conversation_ref> validate_read(const std::string& conversation,
                                                const std::string& user) {
  auto ref = runtime::parse_conversation(conversation);
  if (!ref) return bad_request("invalid conversation id '" + conversation + "'");
  if (!ref->is_group && !ref->involves(user)) {
    return {errc::forbidden, user + " is not part of " + conversation};
  }
  return *ref;
}

result<validated_change> validate_change(wire::ChangeMessage::Reader c, const std::string& user,
                                         const std::string& device, const actor_options& o) {
  using kind = wire::MessageKind;
  validated_change v;
  auto& r = v.request;
  r.conversation = text(c.getConversation());
  auto ref = validate_read(r.conversation, user);
  if (!ref) return ref.error();
  v.ref = *ref;
  r.sender = user;
  r.device = device;
  r.target = c.getSeq();
  if (r.target == 0) return bad_request("seq must be > 0");
  switch (c.which()) {
    case wire::ChangeMessage::DELETE_FOR_ME:
      v.hide_only = true;
      return v;
    case wire::ChangeMessage::EDIT: {
      auto edit = c.getEdit();
      if (auto err = check_body(edit.getBody(), o)) return err;
      r.kind = static_cast<std::uint16_t>(kind::EDIT);
      r.content_type = edit.getContentType();
      r.body.assign(reinterpret_cast<const char*>(edit.getBody().begin()), edit.getBody().size());
      break;
    }
    case wire::ChangeMessage::RECALL:
      r.kind = static_cast<std::uint16_t>(kind::RECALL);
      break;
    case wire::ChangeMessage::DELETE_FOR_EVERYONE:
      r.kind = static_cast<std::uint16_t>(kind::DELETE_FOR_EVERYONE);
      break;
    default:  // a change this server does not know (a newer client's)
      return bad_request("unknown message change");
  }
  r.client_msg_id = text(c.getClientMsgId());
  if (auto err = check_client_msg_id(r.client_msg_id)) return err;
  if (v.ref.is_system) {
    return error{errc::forbidden, "only the app writes to a system conversation"};
  }
  return v;
}

result<std::string> validate_note(capnp::Text::Reader note) {
  if (note.size() > max_friend_message) return bad_request("message exceeds 256 bytes");
  return text(note);
}

error validate_relation(const std::string& user, const std::string& other,
                        const std::string& message) {
  if (!runtime::valid_name(other)) return bad_request("invalid user id");
  if (other == user) return bad_request("a relation needs another user");
  if (message.size() > max_friend_message) return bad_request("message exceeds 256 bytes");
  return {};
}

result<std::string> validate_profile(wire::Profile::Reader p, const std::string& user,
                                     std::uint64_t now_ms) {
  constexpr std::size_t max_name = 64, max_fields = 20, max_key = 32, max_value = 256;
  auto known = [](wire::Visibility v) { return v <= wire::Visibility::NOBODY; };
  const std::string name = text(p.getDisplayName());
  if (name.size() > max_name || !printable(name)) {
    return bad_request("displayName: at most 64 bytes, no control characters");
  }
  if (!valid_url(text(p.getAvatarUrl()))) {
    return bad_request("avatarUrl: an http(s) URL of at most 512 bytes");
  }
  if (!known(p.getDisplayNameVisibility()) || !known(p.getAvatarVisibility())) {
    return bad_request("unknown visibility");
  }
  auto fields = p.getFields();
  if (fields.size() > max_fields) return bad_request("at most 20 profile fields");
  std::vector<std::string> keys;
  for (auto f : fields) {
    const std::string key = text(f.getKey());
    if (key.empty() || key.size() > max_key || !printable(key)) {
      return bad_request("a field key is 1-32 bytes without control characters");
    }
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      return bad_request("field key '" + key + "' twice");
    }
    keys.push_back(key);
    if (f.getValue().size() > max_value) return bad_request("a field value exceeds 256 bytes");
    if (!known(f.getVisibility())) return bad_request("unknown visibility");
  }
  schema::message_builder message;
  message.setRoot(p);
  auto out = message.getRoot<wire::Profile>();
  out.setUser(user);
  out.setUpdatedMs(now_ms);
  return schema::encode_bytes(message);
}

result<validated_group_update> validate_update_group(wire::UpdateGroup::Reader u) {
  constexpr std::size_t max_announcement = 2048;
  validated_group_update v;
  v.group = text(u.getGroupId());
  if (!runtime::valid_name(v.group)) return bad_request("invalid group id");
  auto& g = v.update;
  g.name = text(u.getName());
  if (g.name.size() > max_group_name) return bad_request("group name exceeds 128 bytes");
  g.avatar_url = text(u.getAvatarUrl());
  if (!valid_url(g.avatar_url))
    return bad_request("avatarUrl: an http(s) URL of at most 512 bytes");
  g.announcement = text(u.getAnnouncement());
  if (g.announcement.size() > max_announcement) {
    return bad_request("announcement exceeds 2048 bytes");
  }
  g.max_members = u.getMaxMembers();
  g.muted_all = u.getMutedAll();
  return v;
}

std::uint32_t page_limit(std::uint32_t asked, const actor_options& o) {
  if (asked == 0) return o.default_page;
  return std::min(asked, o.max_page);
}

result<history_query> validate_history(wire::History::Reader h, const actor_options& o) {
  history_query q;
  q.limit = page_limit(h.getLimit(), o);
  auto before = h.getBefore();
  if (before.isSeq()) {
    q.before_seq = before.getSeq();
  } else if (before.isTimeMs()) {
    q.before_time_ms = before.getTimeMs();
    if (q.before_time_ms == 0) {
      return bad_request("before.timeMs must be > 0 (before.seq = 0 reads from the newest)");
    }
  } else {
    return bad_request("unknown history start");
  }
  return q;
}

result<validated_group_create> validate_create_group(wire::CreateGroup::Reader c) {
  validated_group_create v;
  v.group = text(c.getGroupId());
  v.spec.name = text(c.getName());
  if (!v.group.empty() && !runtime::valid_name(v.group)) return bad_request("invalid group id");
  if (v.spec.name.size() > max_group_name) return bad_request("group name exceeds 128 bytes");
  switch (c.getJoinPolicy()) {
    case wire::JoinPolicy::INVITE_ONLY:
      break;
    case wire::JoinPolicy::OPEN:
    case wire::JoinPolicy::APPROVAL:
      v.spec.join_policy = static_cast<std::uint16_t>(c.getJoinPolicy());
      break;
    default:
      return bad_request("unknown join policy");
  }
  v.spec.share_history = c.getShareHistory();
  return v;
}

result<std::string> validate_group_ref(wire::GroupRef::Reader g) {
  std::string group = text(g.getGroupId());
  if (!runtime::valid_name(group)) return bad_request("invalid group id");
  return group;
}

result<validated_member_change> validate_member_change(const std::string& group,
                                                       const std::string& user) {
  if (!runtime::valid_name(group) || !runtime::valid_name(user)) {
    return bad_request("invalid group or user id");
  }
  return validated_member_change{group, user};
}

}  // namespace parley::actors
