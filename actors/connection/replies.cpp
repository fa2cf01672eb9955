#include "connection/replies.hpp"

#include "parley/actors/connection.hpp"

namespace parley::actors {

namespace {

/// Copies stored records (trusted: written by this engine) into a list of the frame.
template <class T>
void copy_records(const record_page& page, typename capnp::List<T>::Builder list) {
  for (unsigned i = 0; i < page.records.size(); ++i) {
    auto words = schema::words_from_bytes(page.records[i]);
    auto reader = schema::read_frame(words, capnp::ReaderOptions());
    list.setWithCaveats(i, reader.getRoot<T>());
  }
}

}  // namespace

void fill_error(wire::Result::Builder r, errc code, const std::string& message) {
  r.setCode(static_cast<wire::ErrorCode>(code));
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
  copy_records<wire::Message>(page, messages.initMessages(page.records.size()));
}

void fill_events(wire::Result::Builder r, const record_page& page) {
  auto events = r.initEvents();
  events.setHasMore(page.has_more);
  copy_records<wire::InboxEvent>(page, events.initEvents(page.records.size()));
}

void fill_group(wire::Result::Builder r, const group_info& g) {
  auto info = r.initGroup();
  info.setGroupId(g.group);
  info.setName(g.name);
  info.setRole(static_cast<wire::GroupRole>(g.role));
  info.setJoinPolicy(g.open ? wire::JoinPolicy::OPEN : wire::JoinPolicy::INVITE_ONLY);
  info.setShareHistory(g.share_history);
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

schema::shared_frame encode_error(std::uint16_t code, const std::string& message) {
  return encode_server_frame([&](wire::ServerFrame::Builder f) {
    f.setRequestId(0);
    fill_error(f.initResult(), static_cast<errc>(code), message);
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
