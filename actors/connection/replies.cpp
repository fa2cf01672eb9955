#include "connection/replies.hpp"

#include "parley/actors/connection.hpp"
#include "parley/runtime/cluster_errc.hpp"
#include "parley/runtime/token.hpp"
#include "parley/store/status.hpp"

namespace parley::actors {

// Request codes convert to the wire's by value: every value is checked here, and
// tests/runtime (error_codes) checks that the schema has no code errc lacks.
constexpr bool same_code(errc e, wire::ErrorCode w) {
  return static_cast<int>(e) == static_cast<int>(w);
}
static_assert(same_code(errc::bad_request, wire::ErrorCode::BAD_REQUEST));
static_assert(same_code(errc::malformed_frame, wire::ErrorCode::MALFORMED_FRAME));
static_assert(same_code(errc::frame_too_large, wire::ErrorCode::FRAME_TOO_LARGE));
static_assert(same_code(errc::not_authenticated, wire::ErrorCode::NOT_AUTHENTICATED));
static_assert(same_code(errc::token_invalid, wire::ErrorCode::TOKEN_INVALID));
static_assert(same_code(errc::token_expired, wire::ErrorCode::TOKEN_EXPIRED));
static_assert(same_code(errc::not_member, wire::ErrorCode::NOT_MEMBER));
static_assert(same_code(errc::not_found, wire::ErrorCode::NOT_FOUND));
static_assert(same_code(errc::forbidden, wire::ErrorCode::FORBIDDEN));
static_assert(same_code(errc::already_exists, wire::ErrorCode::ALREADY_EXISTS));
static_assert(same_code(errc::unavailable, wire::ErrorCode::UNAVAILABLE));
static_assert(same_code(errc::internal, wire::ErrorCode::INTERNAL));
static_assert(same_code(errc::already_logged_in, wire::ErrorCode::ALREADY_LOGGED_IN));
static_assert(same_code(errc::unsupported, wire::ErrorCode::UNSUPPORTED));
static_assert(same_code(errc::timeout, wire::ErrorCode::TIMEOUT));
static_assert(same_code(errc::rate_limited, wire::ErrorCode::RATE_LIMITED));
static_assert(same_code(errc::limit_exceeded, wire::ErrorCode::LIMIT_EXCEEDED));
static_assert(same_code(errc::banned, wire::ErrorCode::BANNED));
static_assert(same_code(errc::token_revoked, wire::ErrorCode::TOKEN_REVOKED));
static_assert(same_code(errc::rejected, wire::ErrorCode::REJECTED));

wire_error to_wire(const error& err) {
  if (!err) return {wire::ErrorCode::OK, ""};
  if (err.in(category_of(errc{}))) {
    return {static_cast<wire::ErrorCode>(err.code()), err.message()};
  }
  if (err.in(category_of(runtime::auth_errc{}))) {
    // The token's own verdicts are Parley's sentences about the client's token; a missing
    // secret is the server's problem.
    if (err.is(runtime::auth_errc::no_secret)) return {wire::ErrorCode::INTERNAL, "internal error"};
    if (err.is(runtime::auth_errc::expired)) return {wire::ErrorCode::TOKEN_EXPIRED, err.message()};
    return {wire::ErrorCode::TOKEN_INVALID, err.message()};
  }
  if (err.in(category_of(store::errc{}))) {
    if (err.retriable()) {
      return {wire::ErrorCode::UNAVAILABLE, "storage is temporarily unavailable; retry later"};
    }
    return {wire::ErrorCode::INTERNAL, "internal storage error"};
  }
  if (err.in(category_of(runtime::cluster_errc{})) && err.retriable()) {
    return {wire::ErrorCode::UNAVAILABLE, "the cluster is temporarily unavailable; retry later"};
  }
  return {wire::ErrorCode::INTERNAL, "internal error"};
}

void fill_error(wire::Result::Builder r, const error& err) {
  auto [code, message] = to_wire(err);
  r.setCode(code);
  r.setErrorMessage(message);
  r.setNone();
}

void fill_sent(wire::Result::Builder r, const send_ack& ack) {
  auto sent = r.initSent();
  sent.setConversation(ack.conversation);
  sent.setSeq(ack.seq);
  sent.setTimestampMs(ack.timestamp_ms);
}

void fill_messages(wire::Result::Builder r, const record_page& page) {
  auto messages = r.initMessages();
  messages.setHasMore(page.has_more);
  schema::copy_stored<wire::Message>(page.records, messages.initMessages(page.records.size()));
}

void fill_events(wire::Result::Builder r, const record_page& page) {
  auto events = r.initEvents();
  events.setHasMore(page.has_more);
  schema::copy_stored<wire::InboxEvent>(page.records, events.initEvents(page.records.size()));
}

void fill_group(wire::Result::Builder r, const group_info& g) {
  auto info = r.initGroup();
  info.setGroupId(g.group);
  info.setName(g.name);
  info.setRole(static_cast<wire::GroupRole>(g.role));
  info.setJoinPolicy(static_cast<wire::JoinPolicy>(g.join_policy));
  info.setShareHistory(g.share_history);
  info.setPending(g.pending);
}

void fill_join_requests(wire::Result::Builder r, const std::vector<join_request>& requests) {
  auto list = r.initJoinRequests(static_cast<unsigned>(requests.size()));
  for (unsigned i = 0; i < requests.size(); ++i) {
    list[i].setUserId(requests[i].user);
    list[i].setMessage(requests[i].message);
    list[i].setRequestedMs(requests[i].requested_ms);
  }
}

void fill_receipts(wire::Result::Builder r, const read_receipts& receipts) {
  auto page = r.initReceipts();
  auto counts = page.initReadCounts(static_cast<unsigned>(receipts.counts.size()));
  for (unsigned i = 0; i < receipts.counts.size(); ++i) counts.set(i, receipts.counts[i]);
  auto cursors = page.initCursors(static_cast<unsigned>(receipts.users.size()));
  for (unsigned i = 0; i < receipts.users.size(); ++i) {
    cursors[i].setUser(receipts.users[i]);
    cursors[i].setSeq(receipts.seqs[i]);
  }
}

void fill_relations(wire::Result::Builder r, const relation_page& page) {
  auto out = r.initRelations();
  out.setHasMore(page.has_more);
  auto entries = out.initEntries(static_cast<unsigned>(page.entries.size()));
  for (unsigned i = 0; i < page.entries.size(); ++i) {
    const auto& e = page.entries[i];
    entries[i].setUser(e.user);
    entries[i].setRelation(static_cast<wire::Relation>(e.relation));
    entries[i].setMessage(e.message);
    entries[i].setSinceMs(e.since_ms);
    entries[i].setExpiresMs(e.expires_ms);
  }
}

void fill_conversations(wire::Result::Builder r, const conversation_list& list) {
  auto page = r.initConversations();
  page.setNextCursor(list.next_cursor);
  page.setHasMore(list.has_more);
  auto entries = page.initEntries(static_cast<unsigned>(list.entries.size()));
  for (unsigned i = 0; i < list.entries.size(); ++i) {
    const auto& e = list.entries[i];
    auto out = entries[i];
    out.setConversation(e.conversation);
    out.setLastSeq(e.last_seq);
    out.setLastActivityMs(e.last_ms);
    if (!e.last_entry.empty()) {
      auto words = schema::words_from_bytes(e.last_entry);
      auto stored = schema::read_frame(words, capnp::ReaderOptions());
      out.setLastMessage(stored.getRoot<wire::Message>());
      out.setHasLastMessage(true);
    }
    out.setReadSeq(e.read_seq);
    out.setUnread(e.unread);
    out.setUnreadMentions(e.unread_mentions);
    out.setMuted(e.muted);
    out.setPinned(e.pinned);
    out.setRetentionSeconds(e.retention_ms / 1000);
  }
}

void fill_group_profile(wire::Result::Builder r, const group_summary& g) {
  auto p = r.initGroupProfile();
  p.setGroupId(g.group);
  p.setName(g.name);
  p.setAvatarUrl(g.avatar_url);
  p.setAnnouncement(g.announcement);
  p.setOwner(g.owner);
  p.setMembers(g.members);
  p.setMaxMembers(g.max_members);
  p.setMutedAll(g.muted_all);
  p.setJoinPolicy(static_cast<wire::JoinPolicy>(g.join_policy));
  p.setShareHistory(g.share_history);
  p.setCreatedMs(g.created_ms);
  p.setRole(static_cast<wire::GroupRole>(g.role));
}

void fill_members(wire::Result::Builder r, const member_page& page) {
  auto out = r.initMembers();
  out.setHasMore(page.has_more);
  auto list = out.initMembers(static_cast<unsigned>(page.members.size()));
  for (unsigned i = 0; i < page.members.size(); ++i) {
    const auto& m = page.members[i];
    list[i].setUserId(m.user);
    list[i].setRole(static_cast<wire::GroupRole>(m.role));
    list[i].setJoinedMs(m.joined_ms);
    list[i].setMutedUntilMs(m.muted_until_ms);
  }
}

void fill_login(wire::Result::Builder r, const std::string& user, std::uint64_t inbox_head) {
  auto ok = r.initLogin();
  ok.setUserId(user);
  ok.setInboxHead(inbox_head);
}

schema::shared_frame encode_kicked(std::uint16_t reason, const std::string& detail) {
  return encode_server_frame([&](wire::ServerFrame::Builder f) {
    f.setRequestId(0);
    auto k = f.initKicked();
    k.setReason(static_cast<wire::KickReason>(reason));
    k.setDetail(detail);
  });
}

schema::shared_frame encode_error(const error& err) {
  return encode_server_frame([&](wire::ServerFrame::Builder f) {
    f.setRequestId(0);
    fill_error(f.initResult(), err);
  });
}

static_assert(kick_reason::too_slow == static_cast<std::uint16_t>(wire::KickReason::TOO_SLOW));
static_assert(kick_reason::token_expired ==
              static_cast<std::uint16_t>(wire::KickReason::TOKEN_EXPIRED));
static_assert(kick_reason::login_timeout ==
              static_cast<std::uint16_t>(wire::KickReason::LOGIN_TIMEOUT));
static_assert(kick_reason::frame_timeout ==
              static_cast<std::uint16_t>(wire::KickReason::FRAME_TIMEOUT));
static_assert(kick_reason::heartbeat_timeout ==
              static_cast<std::uint16_t>(wire::KickReason::HEARTBEAT_TIMEOUT));

}  // namespace parley::actors
