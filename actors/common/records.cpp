#include "common/records.hpp"

#include "parley/schema/framing.hpp"

#include "app.capnp.h"
#include "client.capnp.h"
#include "records.capnp.h"

#include <capnp/message.h>
#include <kj/exception.h>

#include <chrono>
#include <ctime>
#include <utility>

namespace parley::actors {

std::uint64_t now_us() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::string iso_time(std::uint64_t unix_ms) {
  const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  char text[32] = "?";
  if (gmtime_r(&seconds, &utc) != nullptr) {
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  }
  return text;
}

namespace {

/// Reads a stored record whose root is a `Root` with `read`; nothing if the bytes are not one.
template <class Root, class Read>
auto decode_root(const std::string& stored, Read read)
    -> std::optional<decltype(read(std::declval<typename Root::Reader>()))> {
  auto words = schema::words_from_bytes(stored);
  if (words.empty()) return std::nullopt;
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = words.size() + 1;
    auto reader = schema::read_frame(words, options);
    return read(reader.template getRoot<Root>());
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

namespace {

capnp::Data::Reader as_data(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

}  // namespace

std::string encode_message(const send_request& r, std::uint64_t seq, std::uint64_t timestamp_ms,
                           std::uint64_t number) {
  schema::message_builder message;
  auto m = message.initRoot<wire::Message>();
  m.setConversation(r.conversation);
  m.setSeq(seq);
  m.setSender(r.sender);
  m.setSenderDevice(r.device);
  m.setClientMsgId(r.client_msg_id);
  m.setTimestampMs(timestamp_ms);
  m.setContentType(r.content_type);
  m.setBody(as_data(r.body));
  auto mentions = m.initMentions(static_cast<unsigned>(r.mentions.size()));
  for (unsigned i = 0; i < r.mentions.size(); ++i) mentions.set(i, r.mentions[i]);
  m.setKind(static_cast<wire::MessageKind>(r.kind));
  m.setTarget(r.target);
  m.setMentionsAll(r.mention_all);
  m.setNumber(number);
  return schema::encode_bytes(message);
}

bool carries_content(const send_request& r) {
  const auto kind = static_cast<wire::MessageKind>(r.kind);
  return kind == wire::MessageKind::NORMAL || kind == wire::MessageKind::EDIT;
}

std::optional<message_facts> read_message_facts(const std::string& stored) {
  return decode_root<wire::Message>(stored, [](wire::Message::Reader m) {
    message_facts f;
    f.sender = m.getSender();
    f.timestamp_ms = m.getTimestampMs();
    f.kind = static_cast<std::uint16_t>(m.getKind());
    f.state = static_cast<std::uint16_t>(m.getState());
    for (auto seq : m.getEdits()) f.edits.push_back(seq);
    for (auto u : m.getMentions()) f.mentions.emplace_back(u.cStr(), u.size());
    f.mentions_all = m.getMentionsAll();
    f.number = m.getNumber();
    return f;
  });
}

namespace {

/// A copy of the stored message `stored` changed by `change`, re-encoded. Copied twice: a
/// replaced field leaves zeroed words behind in a builder, which the second copy drops.
template <class Change>
std::string rewritten(const std::string& stored, Change&& change) {
  auto words = schema::words_from_bytes(stored);
  auto reader = schema::read_frame(words, capnp::ReaderOptions());
  capnp::MallocMessageBuilder draft;
  draft.setRoot(reader.getRoot<wire::Message>());
  change(draft.getRoot<wire::Message>());
  schema::message_builder message;
  message.setRoot(draft.getRoot<wire::Message>().asReader());
  return schema::encode_bytes(message);
}

}  // namespace

std::string expired_entry(const std::string& stored) {
  return rewritten(stored, [](wire::Message::Builder m) {
    if (m.asReader().getKind() == wire::MessageKind::NORMAL) {
      m.setState(wire::MessageState::DELETED);
      m.setChangedAtSeq(0);
    }
    m.setBody(capnp::Data::Reader());
    m.initMentions(0);
    m.setMentionsAll(false);
  });
}

std::string rewrite_message(const std::string& stored, const send_request& change,
                            std::uint64_t change_seq) {
  return rewritten(stored, [&](wire::Message::Builder m) {
    m.setChangedAtSeq(change_seq);
    switch (static_cast<wire::MessageKind>(change.kind)) {
      case wire::MessageKind::EDIT: {
        m.setState(wire::MessageState::EDITED);
        m.setContentType(change.content_type);
        m.setBody(as_data(change.body));
        std::vector<std::uint64_t> edits;
        for (auto seq : m.asReader().getEdits()) edits.push_back(seq);
        edits.push_back(change_seq);
        auto list = m.initEdits(static_cast<unsigned>(edits.size()));
        for (unsigned i = 0; i < edits.size(); ++i) list.set(i, edits[i]);
        break;
      }
      case wire::MessageKind::RECALL:
      case wire::MessageKind::DELETE_FOR_EVERYONE:
        m.setState(static_cast<wire::MessageKind>(change.kind) == wire::MessageKind::RECALL
                       ? wire::MessageState::RECALLED
                       : wire::MessageState::DELETED);
        m.setBody(capnp::Data::Reader());
        m.initMentions(0);
        m.setMentionsAll(false);
        break;
      default:
        break;
    }
  });
}

std::string strip_body(const std::string& stored) {
  return rewritten(stored, [](wire::Message::Builder m) { m.setBody(capnp::Data::Reader()); });
}

std::optional<std::uint64_t> message_timestamp(const std::string& stored) {
  auto words = schema::words_from_bytes(stored);
  if (words.empty()) return std::nullopt;
  try {
    auto reader = schema::read_frame(words, capnp::ReaderOptions());
    return reader.getRoot<wire::Message>().getTimestampMs();
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

std::string encode_event(const inbox_event_spec& spec, std::uint64_t seq,
                         std::uint64_t timestamp_ms) {
  schema::message_builder message;
  auto e = message.initRoot<wire::InboxEvent>();
  e.setSeq(seq);
  e.setKind(static_cast<wire::InboxEventKind>(spec.kind));
  e.setConversation(spec.conversation);
  e.setGroup(spec.group);
  e.setActor(spec.actor);
  e.setArgSeq(spec.arg_seq);
  e.setRole(static_cast<wire::GroupRole>(spec.role));
  e.setText(spec.text);
  e.setRelation(static_cast<wire::Relation>(spec.relation));
  e.setTimestampMs(timestamp_ms);
  return schema::encode_bytes(message);
}

std::string encode_push_frame(const std::string& stored, bool is_message) {
  auto words = schema::words_from_bytes(stored);
  auto reader = schema::read_frame(words, capnp::ReaderOptions());
  schema::message_builder message;
  auto frame = message.initRoot<wire::ServerFrame>();
  frame.setRequestId(0);
  if (is_message)
    frame.setMessage(reader.getRoot<wire::Message>());
  else
    frame.setEvent(reader.getRoot<wire::InboxEvent>());
  return schema::encode_bytes(message);
}

std::string encode_typing_frame(const std::string& conversation, const std::string& user) {
  schema::message_builder message;
  auto frame = message.initRoot<wire::ServerFrame>();
  frame.setRequestId(0);
  auto notice = frame.initTyping();
  notice.setConversation(conversation);
  notice.setUser(user);
  return schema::encode_bytes(message);
}

std::string encode_presence_frame(const presence_entry& e) {
  schema::message_builder message;
  auto frame = message.initRoot<wire::ServerFrame>();
  frame.setRequestId(0);
  auto p = frame.initPresence();
  p.setUser(e.user);
  p.setStatus(static_cast<wire::PresenceStatus>(e.status));
  p.setLastSeenMs(e.last_seen_ms);
  return schema::encode_bytes(message);
}

std::string encode_read_frame(const std::string& conversation, const std::string& user,
                              std::uint64_t seq) {
  schema::message_builder message;
  auto frame = message.initRoot<wire::ServerFrame>();
  frame.setRequestId(0);
  auto notice = frame.initRead();
  notice.setConversation(conversation);
  notice.setUser(user);
  notice.setSeq(seq);
  return schema::encode_bytes(message);
}

std::string encode_group_member(const group_member& m) {
  schema::message_builder message;
  auto r = message.initRoot<records::GroupMember>();
  r.setRole(static_cast<wire::GroupRole>(m.role));
  r.setJoinedMs(m.joined_ms);
  r.setVisibleAfterSeq(m.visible_after_seq);
  r.setMutedUntilMs(m.muted_until_ms);
  return schema::encode_bytes(message);
}

namespace {

group_member member_of(records::GroupMember::Reader r) {
  return {static_cast<std::uint16_t>(r.getRole()), r.getJoinedMs(), r.getVisibleAfterSeq(),
          r.getMutedUntilMs()};
}

}  // namespace

std::optional<group_member> decode_group_member(const std::string& stored) {
  return decode_root<records::GroupMember>(stored, member_of);
}

std::string encode_group(const group_record& g) {
  schema::message_builder message;
  auto s = message.initRoot<records::GroupState>();
  s.setGroupId(g.group);
  s.setName(g.name);
  s.setCreatedMs(g.created_ms);
  s.setVersion(g.version);
  s.setMemberCount(g.member_count);
  s.setJoinPolicy(static_cast<wire::JoinPolicy>(g.join_policy));
  s.setShareHistory(g.share_history);
  s.setHistoryFloor(g.history_floor);
  s.setAvatarUrl(g.avatar_url);
  s.setAnnouncement(g.announcement);
  s.setMutedAll(g.muted_all);
  s.setMaxMembers(g.max_members);
  return schema::encode_bytes(message);
}

std::optional<group_record> decode_group(const std::string& stored) {
  return decode_root<records::GroupState>(stored, [](records::GroupState::Reader s) {
    group_record g;
    g.group = s.getGroupId();
    g.name = s.getName();
    g.created_ms = s.getCreatedMs();
    g.version = s.getVersion();
    g.member_count = s.getMemberCount();
    for (auto m : s.getMembers()) g.legacy_members.emplace_back(m.getUserId(), member_of(m));
    g.join_policy = static_cast<std::uint16_t>(s.getJoinPolicy());
    g.share_history = s.getShareHistory();
    for (auto b : s.getBarred()) g.legacy_barred.emplace_back(b.cStr(), b.size());
    g.history_floor = s.getHistoryFloor();
    g.avatar_url = s.getAvatarUrl();
    g.announcement = s.getAnnouncement();
    g.muted_all = s.getMutedAll();
    g.max_members = s.getMaxMembers();
    return g;
  });
}

std::string encode_group_pending(const group_pending& p) {
  schema::message_builder message;
  auto r = message.initRoot<records::GroupPending>();
  r.setMessage(p.message);
  r.setAtMs(p.at_ms);
  r.setBy(p.by);
  r.setExpiresMs(p.expires_ms);
  return schema::encode_bytes(message);
}

std::optional<group_pending> decode_group_pending(const std::string& stored) {
  return decode_root<records::GroupPending>(stored, [](records::GroupPending::Reader r) {
    return group_pending{r.getMessage(), r.getAtMs(), r.getBy(), r.getExpiresMs()};
  });
}

std::string encode_access(const user_access& a) {
  schema::message_builder message;
  auto s = message.initRoot<records::UserAccess>();
  s.setRevokedAtUs(a.revoked_at_us);
  s.setBanned(a.banned);
  s.setBannedUntilMs(a.banned_until_ms);
  s.setBanReason(a.ban_reason);
  return schema::encode_bytes(message);
}

std::optional<user_access> decode_access(const std::string& stored) {
  return decode_root<records::UserAccess>(stored, [](records::UserAccess::Reader s) {
    return user_access{s.getRevokedAtUs(), s.getBanned(), s.getBannedUntilMs(), s.getBanReason()};
  });
}

std::string profile_for(const std::string& stored, const std::string& user, viewer_kind viewer) {
  schema::message_builder message;
  auto out = message.initRoot<wire::Profile>();
  out.setUser(user);
  if (!stored.empty()) {
    auto words = schema::words_from_bytes(stored);
    auto reader = schema::read_frame(words, capnp::ReaderOptions());
    auto in = reader.getRoot<wire::Profile>();
    auto sees = [viewer](wire::Visibility v) {
      switch (v) {
        case wire::Visibility::EVERYONE:
          return true;
        case wire::Visibility::FRIENDS:
          return viewer != viewer_kind::stranger;
        default:
          return viewer == viewer_kind::self;
      }
    };
    out.setUpdatedMs(in.getUpdatedMs());
    out.setDisplayNameVisibility(in.getDisplayNameVisibility());
    out.setAvatarVisibility(in.getAvatarVisibility());
    if (sees(in.getDisplayNameVisibility())) out.setDisplayName(in.getDisplayName());
    if (sees(in.getAvatarVisibility())) out.setAvatarUrl(in.getAvatarUrl());
    unsigned shown = 0;
    for (auto f : in.getFields()) shown += sees(f.getVisibility()) ? 1 : 0;
    auto fields = out.initFields(shown);
    unsigned i = 0;
    for (auto f : in.getFields()) {
      if (sees(f.getVisibility())) fields.setWithCaveats(i++, f);
    }
  }
  return schema::encode_bytes(message);
}

std::string encode_relation(const relation_record& r) {
  schema::message_builder message;
  auto s = message.initRoot<records::RelationRecord>();
  s.setRelation(static_cast<wire::Relation>(r.relation));
  s.setMessage(r.message);
  s.setSinceMs(r.since_ms);
  s.setExpiresMs(r.expires_ms);
  return schema::encode_bytes(message);
}

std::optional<relation_record> decode_relation(const std::string& stored) {
  return decode_root<records::RelationRecord>(stored, [](records::RelationRecord::Reader s) {
    return relation_record{static_cast<std::uint16_t>(s.getRelation()), s.getMessage(),
                           s.getSinceMs(), s.getExpiresMs()};
  });
}

std::string encode_peer_state(const peer_state& p) {
  schema::message_builder message;
  auto s = message.initRoot<records::PeerState>();
  s.setFriends(p.friends);
  auto blocked = s.initBlockedBy(static_cast<unsigned>(p.blocked_by.size()));
  for (unsigned i = 0; i < p.blocked_by.size(); ++i) blocked.set(i, p.blocked_by[i]);
  return schema::encode_bytes(message);
}

std::optional<peer_state> decode_peer_state(const std::string& stored) {
  return decode_root<records::PeerState>(stored, [](records::PeerState::Reader s) {
    peer_state p;
    p.friends = s.getFriends();
    for (auto b : s.getBlockedBy()) p.blocked_by.emplace_back(b.cStr(), b.size());
    return p;
  });
}

std::string encode_message_stored(const send_request& r, std::uint64_t seq,
                                  std::uint64_t timestamp_ms) {
  capnp::MallocMessageBuilder message;
  auto e = message.initRoot<app::Event>();
  e.setTimestampMs(timestamp_ms);
  auto m = e.initMessageStored();
  m.setConversation(r.conversation);
  m.setSeq(seq);
  m.setSender(r.sender);
  m.setSenderDevice(r.device);
  m.setContentType(r.content_type);
  m.setBodyBytes(static_cast<std::uint32_t>(r.body.size()));
  m.setKind(static_cast<wire::MessageKind>(r.kind));
  m.setTarget(r.target);
  return schema::encode_bytes(message);
}

std::string encode_session_change(bool opened, const std::string& user, const std::string& device,
                                  std::uint16_t device_type, const std::string& node) {
  capnp::MallocMessageBuilder message;
  auto e = message.initRoot<app::Event>();
  e.setTimestampMs(now_ms());
  auto s = opened ? e.initSessionOpened() : e.initSessionClosed();
  s.setUser(user);
  s.setDevice(device);
  s.setDeviceType(device_type);
  s.setNode(node);
  return schema::encode_bytes(message);
}

std::string encode_group_change(const std::string& group, const std::string& user,
                                const inbox_event_spec& spec) {
  capnp::MallocMessageBuilder message;
  auto e = message.initRoot<app::Event>();
  e.setTimestampMs(now_ms());
  auto g = e.initGroupChanged();
  g.setGroup(group);
  g.setUser(user);
  g.setKind(static_cast<wire::InboxEventKind>(spec.kind));
  g.setBy(spec.actor);
  g.setRole(static_cast<wire::GroupRole>(spec.role));
  return schema::encode_bytes(message);
}

}  // namespace parley::actors
