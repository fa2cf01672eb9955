#include "parley/client/client.hpp"

#include "parley/client/codec.hpp"

#include "parley/schema/framing.hpp"
#include "parley/schema/tls.hpp"

#include <capnp/message.h>
#include <capnp/schema.h>
#include <kj/exception.h>
#include <asio.hpp>

#include <poll.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace parley::client {

namespace {

using asio::ip::tcp;

}  // namespace

namespace codec {

namespace {

using schema::text;

message to_message(wire::Message::Reader m) {
  message out;
  out.conversation = text(m.getConversation());
  out.seq = m.getSeq();
  out.sender = text(m.getSender());
  out.sender_device = text(m.getSenderDevice());
  out.client_msg_id = text(m.getClientMsgId());
  out.timestamp_ms = m.getTimestampMs();
  out.content_type = m.getContentType();
  auto body = m.getBody();
  out.body.assign(reinterpret_cast<const char*>(body.begin()), body.size());
  for (auto x : m.getMentions()) out.mentions.push_back(text(x));
  out.kind = m.getKind();
  out.target = m.getTarget();
  out.state = m.getState();
  out.changed_at_seq = m.getChangedAtSeq();
  for (auto seq : m.getEdits()) out.edits.push_back(seq);
  out.mentions_all = m.getMentionsAll();
  out.number = m.getNumber();
  return out;
}

inbox_event to_event(wire::InboxEvent::Reader e) {
  inbox_event out;
  out.seq = e.getSeq();
  out.kind = e.getKind();
  out.conversation = text(e.getConversation());
  out.group = text(e.getGroup());
  out.actor = text(e.getActor());
  out.arg_seq = e.getArgSeq();
  out.timestamp_ms = e.getTimestampMs();
  out.role = e.getRole();
  out.text = text(e.getText());
  out.relation = e.getRelation();
  return out;
}

response to_response(wire::Result::Reader r) {
  response out;
  out.code = r.getCode();
  out.error = text(r.getErrorMessage());
  switch (r.which()) {
    case wire::Result::LOGIN:
      out.user_id = text(r.getLogin().getUserId());
      out.inbox_head = r.getLogin().getInboxHead();
      break;
    case wire::Result::SENT:
      out.conversation = text(r.getSent().getConversation());
      out.seq = r.getSent().getSeq();
      out.timestamp_ms = r.getSent().getTimestampMs();
      break;
    case wire::Result::MESSAGES:
      for (auto m : r.getMessages().getMessages()) out.messages.push_back(to_message(m));
      out.has_more = r.getMessages().getHasMore();
      break;
    case wire::Result::EVENTS:
      for (auto e : r.getEvents().getEvents()) out.events.push_back(to_event(e));
      out.has_more = r.getEvents().getHasMore();
      break;
    case wire::Result::GROUP: {
      auto g = r.getGroup();  // once: each get counts against the frame's traversal limit
      out.group_id = text(g.getGroupId());
      out.group_name = text(g.getName());
      out.role = g.getRole();
      out.join_policy = g.getJoinPolicy();
      out.share_history = g.getShareHistory();
      out.pending = g.getPending();
      break;
    }
    case wire::Result::JOIN_REQUESTS:
      for (auto j : r.getJoinRequests()) {
        out.join_requests.push_back(
            {text(j.getUserId()), text(j.getMessage()), j.getRequestedMs()});
      }
      break;
    case wire::Result::CONVERSATIONS:
      for (auto e : r.getConversations().getEntries()) {
        conversation_entry entry;
        entry.conversation = text(e.getConversation());
        entry.last_seq = e.getLastSeq();
        entry.last_activity_ms = e.getLastActivityMs();
        if (e.getHasLastMessage()) entry.last_message = to_message(e.getLastMessage());
        entry.read_seq = e.getReadSeq();
        entry.unread = e.getUnread();
        entry.unread_mentions = e.getUnreadMentions();
        entry.muted = e.getMuted();
        entry.pinned = e.getPinned();
        entry.retention_seconds = e.getRetentionSeconds();
        out.conversations.push_back(std::move(entry));
      }
      out.next_cursor = text(r.getConversations().getNextCursor());
      out.has_more = r.getConversations().getHasMore();
      break;
    case wire::Result::GROUP_PROFILE: {
      auto g = r.getGroupProfile();
      out.group = {text(g.getGroupId()),      text(g.getName()),  text(g.getAvatarUrl()),
                   text(g.getAnnouncement()), text(g.getOwner()), g.getMembers(),
                   g.getMaxMembers(),         g.getMutedAll(),    g.getJoinPolicy(),
                   g.getShareHistory(),       g.getCreatedMs(),   g.getRole()};
      break;
    }
    case wire::Result::MEMBERS:
      for (auto m : r.getMembers().getMembers()) {
        out.members.push_back(
            {text(m.getUserId()), m.getRole(), m.getJoinedMs(), m.getMutedUntilMs()});
      }
      out.has_more = r.getMembers().getHasMore();
      break;
    case wire::Result::PROFILES:
      for (auto p : r.getProfiles()) {
        profile out_profile;
        out_profile.user = text(p.getUser());
        out_profile.display_name = text(p.getDisplayName());
        out_profile.display_name_visibility = p.getDisplayNameVisibility();
        out_profile.avatar_url = text(p.getAvatarUrl());
        out_profile.avatar_visibility = p.getAvatarVisibility();
        for (auto f : p.getFields()) {
          out_profile.fields.push_back({text(f.getKey()), text(f.getValue()), f.getVisibility()});
        }
        out_profile.updated_ms = p.getUpdatedMs();
        out.profiles.push_back(std::move(out_profile));
      }
      break;
    case wire::Result::DEVICES:
      for (auto d : r.getDevices()) {
        out.devices.push_back(
            {text(d.getDeviceId()), d.getDeviceType(), d.getSinceMs(), d.getCurrent()});
      }
      break;
    case wire::Result::PRESENCES:
      for (auto p : r.getPresences()) {
        out.presences.push_back({text(p.getUser()), p.getStatus(), p.getLastSeenMs()});
      }
      break;
    case wire::Result::RELATION:
      out.relation = r.getRelation();
      break;
    case wire::Result::RELATIONS:
      for (auto e : r.getRelations().getEntries()) {
        out.relations.push_back({text(e.getUser()), e.getRelation(), text(e.getMessage()),
                                 e.getSinceMs(), e.getExpiresMs()});
      }
      out.has_more = r.getRelations().getHasMore();
      break;
    case wire::Result::RECEIPTS:
      for (auto count : r.getReceipts().getReadCounts()) out.read_counts.push_back(count);
      for (auto c : r.getReceipts().getCursors()) {
        out.cursors.push_back({text(c.getUser()), c.getSeq()});
      }
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

schema::frame_words encode(std::uint64_t request_id, const filler& fill) {
  capnp::MallocMessageBuilder message;
  auto frame = message.initRoot<wire::ClientFrame>();
  fill(frame);
  frame.setRequestId(request_id);
  return schema::encode_frame(message);
}

std::optional<server_frame> decode(const schema::frame_words& words) {
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = words.size() * 2;
    auto reader = schema::read_frame(words, options);
    auto frame = reader.getRoot<wire::ServerFrame>();
    server_frame out;
    out.request_id = frame.getRequestId();
    switch (frame.which()) {
      case wire::ServerFrame::RESULT:
        out.is_result = true;
        out.result = to_response(frame.getResult());
        break;
      case wire::ServerFrame::MESSAGE:
        out.pushed.what = push::kind::message;
        out.pushed.msg = to_message(frame.getMessage());
        break;
      case wire::ServerFrame::EVENT:
        out.pushed.what = push::kind::event;
        out.pushed.event = to_event(frame.getEvent());
        break;
      case wire::ServerFrame::KICKED:
        out.pushed.what = push::kind::kicked;
        out.pushed.reason = frame.getKicked().getReason();
        out.pushed.detail = text(frame.getKicked().getDetail());
        break;
      case wire::ServerFrame::RESYNC:
        out.pushed.what = push::kind::resync;
        break;
      case wire::ServerFrame::TYPING:
        out.pushed.what = push::kind::typing;
        out.pushed.conversation = text(frame.getTyping().getConversation());
        out.pushed.user = text(frame.getTyping().getUser());
        break;
      case wire::ServerFrame::PRESENCE: {
        auto p = frame.getPresence();
        out.pushed.what = push::kind::presence;
        out.pushed.presence = {text(p.getUser()), p.getStatus(), p.getLastSeenMs()};
        break;
      }
      case wire::ServerFrame::READ:
        out.pushed.what = push::kind::read;
        out.pushed.conversation = text(frame.getRead().getConversation());
        out.pushed.user = text(frame.getRead().getUser());
        out.pushed.seq = frame.getRead().getSeq();
        break;
      default:
        return std::nullopt;  // a newer server's frame kind
    }
    return out;
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

static void fill_send(wire::Send::Builder s, const std::string& client_msg_id,
                      const std::string& body, std::uint32_t content_type,
                      const std::vector<std::string>& mentions) {
  s.setClientMsgId(client_msg_id);
  s.setBody(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
  s.setContentType(content_type);
  auto list = s.initMentions(static_cast<unsigned>(mentions.size()));
  for (unsigned i = 0; i < mentions.size(); ++i) list.set(i, mentions[i]);
}

void fill_login(wire::ClientFrame::Builder f, const std::string& token, const std::string& device,
                wire::DeviceType type) {
  auto l = f.initLogin();
  l.setToken(token);
  l.setDeviceId(device);
  l.setDeviceType(type);
}

void fill_send_to_user(wire::ClientFrame::Builder f, const std::string& peer,
                       const std::string& client_msg_id, const std::string& body,
                       std::uint32_t content_type, const std::vector<std::string>& mentions) {
  auto s = f.initSend();
  s.getTarget().setUser(peer);
  fill_send(s, client_msg_id, body, content_type, mentions);
}

void fill_send_to_group(wire::ClientFrame::Builder f, const std::string& group,
                        const std::string& client_msg_id, const std::string& body,
                        std::uint32_t content_type, const std::vector<std::string>& mentions,
                        bool mention_all) {
  auto s = f.initSend();
  s.getTarget().setGroup(group);
  fill_send(s, client_msg_id, body, content_type, mentions);
  s.setMentionAll(mention_all);
}

void fill_pull(wire::ClientFrame::Builder f, const std::string& conversation,
               std::uint64_t after_seq, std::uint32_t limit) {
  auto p = f.initPull();
  p.setConversation(conversation);
  p.setAfterSeq(after_seq);
  p.setLimit(limit);
}

void fill_join_group(wire::ClientFrame::Builder f, const std::string& group) {
  f.initJoinGroup().setGroupId(group);
}

void fill_create_group(wire::ClientFrame::Builder f, const std::string& group,
                       const std::string& name, const group_options& options) {
  auto c = f.initCreateGroup();
  c.setGroupId(group);
  c.setName(name);
  c.setJoinPolicy(options.join_policy);
  c.setShareHistory(options.share_history);
}

}  // namespace codec

struct connection::impl {
  asio::io_context io;
  tcp::socket socket{io};
  connect_options opts;
  std::mutex write_mu;  // one frame at a time on the socket
  mutable std::mutex mu;
  std::condition_variable cv;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, std::optional<response>> waiting;
  std::deque<response> unsolicited;
  std::deque<push> pushes;
  bool is_closed = false;
  std::thread reader;
  // TLS: the reader feeds and decrypts while callers encrypt; tls_mu serialises the engine.
  // Ciphertext goes out in the order it was produced because it is taken from the engine and
  // written under write_mu (taken before tls_mu).
  std::optional<schema::tls_engine> tls;
  std::mutex tls_mu;

  void read_loop() {
    schema::frame_limits limits;  // trust the server, within reason
    limits.max_frame_bytes = 256u << 20;
    limits.max_segments = 512;
    schema::frame_splitter in(limits, 64 * 1024);
    std::vector<std::uint8_t> cipher(tls ? 64 * 1024 : 0);
    std::error_code ec;
    for (bool open = true; open;) {
      if (tls) {
        const std::size_t n = socket.read_some(asio::buffer(cipher), ec);
        if (ec || !decrypt(cipher.data(), n, in)) break;
      } else {
        auto [at, room] = in.write_area();
        const std::size_t n = socket.read_some(asio::buffer(at, room), ec);
        if (ec) break;
        in.commit(n);
      }
      while (auto frame = in.next()) {
        if (!dispatch(*frame)) open = false;
      }
      if (in.state() != schema::frame_status::complete) break;
    }
    std::lock_guard<std::mutex> guard(mu);
    is_closed = true;
    push closed;
    closed.what = push::kind::closed;
    pushes.push_back(std::move(closed));
    cv.notify_all();
  }

  bool dispatch(const schema::frame_words& words) {
    auto frame = codec::decode(words);
    if (!frame) return false;
    std::lock_guard<std::mutex> guard(mu);
    if (frame->is_result) {
      auto it = waiting.find(frame->request_id);
      if (frame->request_id == 0 || it == waiting.end()) {
        unsolicited.push_back(std::move(frame->result));
      } else {
        it->second = std::move(frame->result);
      }
    } else {
      pushes.push_back(std::move(frame->pushed));
    }
    cv.notify_all();
    return true;
  }

  response call(const std::function<void(wire::ClientFrame::Builder)>& fill) {
    std::uint64_t id;
    {
      std::lock_guard<std::mutex> guard(mu);
      id = next_id++;
      waiting.emplace(id, std::nullopt);
    }
    auto words = codec::encode(id, fill);
    write(words.data(), words.size() * 8);
    std::unique_lock<std::mutex> lock(mu);
    const bool answered = cv.wait_for(lock, opts.request_timeout,
                                      [&] { return waiting[id].has_value() || is_closed; });
    auto node = waiting.extract(id);
    if (answered && node.mapped()) return std::move(*node.mapped());
    response r;
    r.code = is_closed ? ErrorCode::UNAVAILABLE : ErrorCode::TIMEOUT;
    r.error = is_closed ? "connection closed" : "no answer within the request timeout";
    return r;
  }

  void write(const void* data, std::size_t len) {
    std::lock_guard<std::mutex> guard(write_mu);
    std::error_code ec;  // a closed socket shows up in the reader; the call then fails
    if (!tls) {
      asio::write(socket, asio::buffer(data, len), ec);
      return;
    }
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    std::vector<std::uint8_t> out;
    for (std::size_t done = 0; done < len && !ec;) {
      std::size_t taken;
      {
        std::lock_guard<std::mutex> engine(tls_mu);
        taken = tls->write(bytes + done, len - done);
        take_output(out);
      }
      if (taken == 0 && out.empty()) return;  // the session failed; the reader sees it
      asio::write(socket, asio::buffer(out), ec);
      done += taken;
    }
  }

  /// Moves the engine's ciphertext into `out`. Under tls_mu.
  void take_output(std::vector<std::uint8_t>& out) {
    out.assign(tls->output_data(), tls->output_data() + tls->output_size());
    tls->consume_output(out.size());
  }

  /// Feeds `n` bytes of ciphertext and decrypts what it completes straight into `in`. False:
  /// the session ended or failed.
  bool decrypt(const std::uint8_t* data, std::size_t n, schema::frame_splitter& in) {
    schema::tls_engine::status st;
    {
      std::lock_guard<std::mutex> engine(tls_mu);
      tls->feed(data, n);
      for (;;) {
        auto [at, room] = in.write_area();
        const auto r = tls->read(at, room);
        st = r.st;
        if (st != schema::tls_engine::status::ok) break;
        in.commit(r.n);
      }
    }
    // Reading may have produced bytes to send (a key update). A caller writing now sends them
    // with its own; waiting for it here could deadlock against a server that stopped reading.
    std::unique_lock<std::mutex> writing(write_mu, std::try_to_lock);
    if (writing.owns_lock()) {
      std::vector<std::uint8_t> out;
      {
        std::lock_guard<std::mutex> engine(tls_mu);
        take_output(out);
      }
      std::error_code ec;  // a closed socket shows up on the next read
      if (!out.empty()) asio::write(socket, asio::buffer(out), ec);
    }
    return st == schema::tls_engine::status::need_input;
  }

  /// The TLS handshake, before the reader starts; within the request timeout.
  error handshake(const std::string& server_name) {
    auto ctx = schema::tls_context::client(opts.tls_ca_file);
    if (!ctx) return ctx.error();
    tls.emplace(*ctx, server_name);
    auto failed = [](std::string why) { return error(client_errc::tls_failed, std::move(why)); };
    const auto deadline = std::chrono::steady_clock::now() + opts.request_timeout;
    std::vector<std::uint8_t> buf(16 * 1024);
    std::error_code ec;
    for (;;) {
      const auto st = tls->handshake();
      std::vector<std::uint8_t> out;
      take_output(out);
      if (!out.empty()) asio::write(socket, asio::buffer(out), ec);
      if (ec) return failed("the connection closed during the TLS handshake");
      if (st == schema::tls_engine::status::ok) return {};
      if (st == schema::tls_engine::status::failed) return failed(tls->failure());
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{socket.native_handle(), POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
        return failed("no TLS handshake within the request timeout");
      }
      const std::size_t n = socket.read_some(asio::buffer(buf), ec);
      if (ec) return failed("the connection closed during the TLS handshake");
      tls->feed(buf.data(), n);
    }
  }
};

namespace {

const char* client_code_name(std::uint8_t code) {
  switch (static_cast<client_errc>(code)) {
    case client_errc::bad_address:
      return "bad_address";
    case client_errc::cannot_connect:
      return "cannot_connect";
    case client_errc::tls_failed:
      return "tls_failed";
  }
  return "unknown";
}

bool client_retriable(std::uint8_t code) {
  return static_cast<client_errc>(code) == client_errc::cannot_connect;
}

constexpr error_category client_category{"client", &client_code_name, &client_retriable};

}  // namespace

const error_category& category_of(client_errc) {
  return client_category;
}

connection::connection(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

connection::~connection() {
  std::error_code ignored;  // closing; errors cannot be acted on
  impl_->socket.shutdown(tcp::socket::shutdown_both, ignored);
  if (impl_->reader.joinable()) impl_->reader.join();
  impl_->socket.close(ignored);
}

result<std::unique_ptr<connection>> connection::connect(const std::string& host, std::uint16_t port,
                                                        connect_options opts) {
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  std::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return {client_errc::bad_address, "invalid address " + host};
  p->socket.open(address.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec && !p->opts.bind_address.empty()) {
    p->socket.bind(tcp::endpoint(asio::ip::make_address(p->opts.bind_address, ec), 0), ec);
  }
  if (!ec) p->socket.connect(tcp::endpoint(address, port), ec);
  if (ec) {
    return {client_errc::cannot_connect,
            "cannot connect to " + host + ":" + std::to_string(port) + ": " + ec.message()};
  }
  p->socket.set_option(tcp::no_delay(true), ec);
  if (p->opts.tls) {
    const auto name = p->opts.tls_server_name.empty() ? host : p->opts.tls_server_name;
    if (auto e = p->handshake(name)) {
      return e.context("TLS with " + host + ":" + std::to_string(port));
    }
  }
  auto* raw = p.get();
  p->reader = std::thread([raw] { raw->read_loop(); });
  return std::unique_ptr<connection>(new connection(std::move(p)));
}

response connection::call(const std::function<void(wire::ClientFrame::Builder)>& fill) {
  return impl_->call(fill);
}

response connection::login(const std::string& token, const std::string& device,
                           wire::DeviceType type) {
  return call([&](wire::ClientFrame::Builder f) { codec::fill_login(f, token, device, type); });
}

response connection::send_to_user(const std::string& peer, const std::string& client_msg_id,
                                  const std::string& body, std::uint32_t content_type,
                                  const std::vector<std::string>& mentions) {
  return call([&](wire::ClientFrame::Builder f) {
    codec::fill_send_to_user(f, peer, client_msg_id, body, content_type, mentions);
  });
}

response connection::send_to_group(const std::string& group, const std::string& client_msg_id,
                                   const std::string& body, std::uint32_t content_type,
                                   const std::vector<std::string>& mentions, bool mention_all) {
  return call([&](wire::ClientFrame::Builder f) {
    codec::fill_send_to_group(f, group, client_msg_id, body, content_type, mentions, mention_all);
  });
}

response connection::pull(const std::string& conversation, std::uint64_t after_seq,
                          std::uint32_t limit) {
  return call(
      [&](wire::ClientFrame::Builder f) { codec::fill_pull(f, conversation, after_seq, limit); });
}

response connection::history_before_seq(const std::string& conversation, std::uint64_t before_seq,
                                        std::uint32_t limit) {
  return call([&](wire::ClientFrame::Builder f) {
    auto h = f.initHistory();
    h.setConversation(conversation);
    h.getBefore().setSeq(before_seq);
    h.setLimit(limit);
  });
}

response connection::history_before_time(const std::string& conversation, std::uint64_t before_ms,
                                         std::uint32_t limit) {
  return call([&](wire::ClientFrame::Builder f) {
    auto h = f.initHistory();
    h.setConversation(conversation);
    h.getBefore().setTimeMs(before_ms);
    h.setLimit(limit);
  });
}

response connection::sync(std::uint64_t after_seq, std::uint32_t limit) {
  return call([&](wire::ClientFrame::Builder f) {
    auto s = f.initSync();
    s.setAfterSeq(after_seq);
    s.setLimit(limit);
  });
}

response connection::mark_read(const std::string& conversation, std::uint64_t seq) {
  return call([&](wire::ClientFrame::Builder f) {
    auto m = f.initMarkRead();
    m.setConversation(conversation);
    m.setSeq(seq);
  });
}

response connection::create_group(const std::string& group_id, const std::string& name,
                                  const group_options& options) {
  return call(
      [&](wire::ClientFrame::Builder f) { codec::fill_create_group(f, group_id, name, options); });
}

response connection::add_member(const std::string& group_id, const std::string& user) {
  return call([&](wire::ClientFrame::Builder f) {
    auto a = f.initAddMember();
    a.setGroupId(group_id);
    a.setUserId(user);
  });
}

response connection::join_group(const std::string& group_id) {
  return call([&](wire::ClientFrame::Builder f) { codec::fill_join_group(f, group_id); });
}

response connection::leave_group(const std::string& group_id) {
  return call([&](wire::ClientFrame::Builder f) { f.initLeaveGroup().setGroupId(group_id); });
}

response connection::kick_member(const std::string& group_id, const std::string& user) {
  return call([&](wire::ClientFrame::Builder f) {
    auto k = f.initKickMember();
    k.setGroupId(group_id);
    k.setUserId(user);
  });
}

response connection::heartbeat() {
  return call([](wire::ClientFrame::Builder f) { f.setHeartbeat(); });
}

response connection::typing(const std::string& conversation) {
  return call([&](wire::ClientFrame::Builder f) { f.initTyping().setConversation(conversation); });
}

namespace {

/// Fills a ChangeMessage of `seq` in `conversation`; `which` sets its kind.
template <class Which>
void fill_change(wire::ClientFrame::Builder f, const std::string& conversation, std::uint64_t seq,
                 const std::string& client_msg_id, Which which) {
  auto c = f.initChangeMessage();
  c.setConversation(conversation);
  c.setSeq(seq);
  c.setClientMsgId(client_msg_id);
  which(c);
}

}  // namespace

response connection::edit(const std::string& conversation, std::uint64_t seq,
                          const std::string& client_msg_id, const std::string& body,
                          std::uint32_t content_type) {
  return call([&](wire::ClientFrame::Builder f) {
    fill_change(f, conversation, seq, client_msg_id, [&](wire::ChangeMessage::Builder c) {
      auto e = c.initEdit();
      e.setContentType(content_type);
      e.setBody(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
    });
  });
}

response connection::recall(const std::string& conversation, std::uint64_t seq,
                            const std::string& client_msg_id) {
  return call([&](wire::ClientFrame::Builder f) {
    fill_change(f, conversation, seq, client_msg_id,
                [](wire::ChangeMessage::Builder c) { c.setRecall(); });
  });
}

response connection::delete_for_everyone(const std::string& conversation, std::uint64_t seq,
                                         const std::string& client_msg_id) {
  return call([&](wire::ClientFrame::Builder f) {
    fill_change(f, conversation, seq, client_msg_id,
                [](wire::ChangeMessage::Builder c) { c.setDeleteForEveryone(); });
  });
}

response connection::delete_for_me(const std::string& conversation, std::uint64_t seq) {
  return call([&](wire::ClientFrame::Builder f) {
    fill_change(f, conversation, seq, std::string(),
                [](wire::ChangeMessage::Builder c) { c.setDeleteForMe(); });
  });
}

response connection::read_receipts(const std::string& conversation,
                                   const std::vector<std::uint64_t>& seqs) {
  return call([&](wire::ClientFrame::Builder f) {
    auto r = f.initReadReceipts();
    r.setConversation(conversation);
    auto list = r.initSeqs(static_cast<unsigned>(seqs.size()));
    for (unsigned i = 0; i < seqs.size(); ++i) list.set(i, seqs[i]);
  });
}

response connection::request_friend(const std::string& user, const std::string& message) {
  return call([&](wire::ClientFrame::Builder f) {
    auto r = f.initRequestFriend();
    r.setUser(user);
    r.setMessage(message);
  });
}

response connection::answer_friend(const std::string& user, bool accept) {
  return call([&](wire::ClientFrame::Builder f) {
    auto a = f.initAnswerFriend();
    a.setUser(user);
    a.setAccept(accept);
  });
}

response connection::cancel_friend_request(const std::string& user) {
  return call([&](wire::ClientFrame::Builder f) { f.initCancelFriendRequest().setUser(user); });
}

response connection::remove_friend(const std::string& user) {
  return call([&](wire::ClientFrame::Builder f) { f.initRemoveFriend().setUser(user); });
}

response connection::block(const std::string& user) {
  return call([&](wire::ClientFrame::Builder f) { f.initBlock().setUser(user); });
}

response connection::unblock(const std::string& user) {
  return call([&](wire::ClientFrame::Builder f) { f.initUnblock().setUser(user); });
}

response connection::list_relations(wire::Relation only, const std::string& after_user,
                                    std::uint32_t limit) {
  return call([&](wire::ClientFrame::Builder f) {
    auto l = f.initListRelations();
    l.setRelation(only);
    l.setAfterUser(after_user);
    l.setLimit(limit);
  });
}

response connection::list_conversations(const std::string& cursor, std::uint32_t limit) {
  return call([&](wire::ClientFrame::Builder f) {
    auto l = f.initListConversations();
    l.setCursor(cursor);
    l.setLimit(limit);
  });
}

response connection::set_conversation_flags(const std::string& conversation, bool muted,
                                            bool pinned) {
  return call([&](wire::ClientFrame::Builder f) {
    auto c = f.initSetConversationFlags();
    c.setConversation(conversation);
    c.setMuted(muted);
    c.setPinned(pinned);
  });
}

response connection::set_presence(wire::PresenceStatus status) {
  return call([&](wire::ClientFrame::Builder f) { f.initSetPresence().setStatus(status); });
}

response connection::watch_presence(const std::vector<std::string>& users, bool watch) {
  return call([&](wire::ClientFrame::Builder f) {
    auto w = f.initWatchPresence();
    auto list = w.initUsers(static_cast<unsigned>(users.size()));
    for (unsigned i = 0; i < users.size(); ++i) list.set(i, users[i]);
    w.setWatch(watch);
  });
}

response connection::set_profile(const profile& p) {
  return call([&](wire::ClientFrame::Builder f) {
    auto out = f.initSetProfile();
    out.setDisplayName(p.display_name);
    out.setDisplayNameVisibility(p.display_name_visibility);
    out.setAvatarUrl(p.avatar_url);
    out.setAvatarVisibility(p.avatar_visibility);
    auto fields = out.initFields(static_cast<unsigned>(p.fields.size()));
    for (unsigned i = 0; i < p.fields.size(); ++i) {
      fields[i].setKey(p.fields[i].key);
      fields[i].setValue(p.fields[i].value);
      fields[i].setVisibility(p.fields[i].visibility);
    }
  });
}

response connection::get_profiles(const std::vector<std::string>& users) {
  return call([&](wire::ClientFrame::Builder f) {
    auto list = f.initGetProfiles(static_cast<unsigned>(users.size()));
    for (unsigned i = 0; i < users.size(); ++i) list.set(i, users[i]);
  });
}

response connection::update_group(const group_profile& g) {
  return call([&](wire::ClientFrame::Builder f) {
    auto u = f.initUpdateGroup();
    u.setGroupId(g.group_id);
    u.setName(g.name);
    u.setAvatarUrl(g.avatar_url);
    u.setAnnouncement(g.announcement);
    u.setMaxMembers(g.max_members);
    u.setMutedAll(g.muted_all);
  });
}

response connection::mute_member(const std::string& group_id, const std::string& user,
                                 std::uint64_t until_ms) {
  return call([&](wire::ClientFrame::Builder f) {
    auto m = f.initMuteMember();
    m.setGroupId(group_id);
    m.setUserId(user);
    m.setUntilMs(until_ms);
  });
}

response connection::get_group_profile(const std::string& group_id) {
  return call([&](wire::ClientFrame::Builder f) { f.initGroupProfile().setGroupId(group_id); });
}

response connection::list_members(const std::string& group_id, const std::string& after_user,
                                  std::uint32_t limit) {
  return call([&](wire::ClientFrame::Builder f) {
    auto l = f.initListMembers();
    l.setGroupId(group_id);
    l.setAfterUser(after_user);
    l.setLimit(limit);
  });
}

response connection::ask_to_join(const std::string& group_id, const std::string& message) {
  return call([&](wire::ClientFrame::Builder f) {
    auto g = f.initJoinGroup();
    g.setGroupId(group_id);
    g.setMessage(message);
  });
}

response connection::set_member_role(const std::string& group_id, const std::string& user,
                                     wire::GroupRole role) {
  return call([&](wire::ClientFrame::Builder f) {
    auto r = f.initSetMemberRole();
    r.setGroupId(group_id);
    r.setUserId(user);
    r.setRole(role);
  });
}

response connection::transfer_group(const std::string& group_id, const std::string& new_owner) {
  return call([&](wire::ClientFrame::Builder f) {
    auto m = f.initTransferGroup();
    m.setGroupId(group_id);
    m.setUserId(new_owner);
  });
}

response connection::dismiss_group(const std::string& group_id) {
  return call([&](wire::ClientFrame::Builder f) { f.initDismissGroup().setGroupId(group_id); });
}

response connection::answer_join_request(const std::string& group_id, const std::string& user,
                                         bool accept) {
  return call([&](wire::ClientFrame::Builder f) {
    auto a = f.initAnswerJoinRequest();
    a.setGroupId(group_id);
    a.setUserId(user);
    a.setAccept(accept);
  });
}

response connection::list_join_requests(const std::string& group_id) {
  return call([&](wire::ClientFrame::Builder f) { f.initListJoinRequests().setGroupId(group_id); });
}

response connection::invite_to_group(const std::string& group_id, const std::string& user,
                                     const std::string& message) {
  return call([&](wire::ClientFrame::Builder f) {
    auto i = f.initInviteToGroup();
    i.setGroupId(group_id);
    i.setUserId(user);
    i.setMessage(message);
  });
}

response connection::answer_group_invite(const std::string& group_id, bool accept) {
  return call([&](wire::ClientFrame::Builder f) {
    auto a = f.initAnswerGroupInvite();
    a.setGroupId(group_id);
    a.setAccept(accept);
  });
}

response connection::set_retention(const std::string& conversation, std::uint64_t seconds) {
  return call([&](wire::ClientFrame::Builder f) {
    auto r = f.initSetRetention();
    r.setConversation(conversation);
    r.setSeconds(seconds);
  });
}

response connection::list_devices() {
  return call([](wire::ClientFrame::Builder f) { f.setListDevices(); });
}

response connection::logout_device(const std::string& device) {
  return call([&](wire::ClientFrame::Builder f) { f.setLogoutDevice(device); });
}

response connection::logout() {
  return call([](wire::ClientFrame::Builder f) { f.setLogout(); });
}

void connection::send_raw(const void* data, std::size_t len) {
  impl_->write(data, len);
}

std::optional<response> connection::next_unsolicited(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout,
                     [&] { return !impl_->unsolicited.empty() || impl_->is_closed; });
  if (impl_->unsolicited.empty()) return std::nullopt;
  auto r = std::move(impl_->unsolicited.front());
  impl_->unsolicited.pop_front();
  return r;
}

std::optional<push> connection::next_push(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return !impl_->pushes.empty(); })) {
    return std::nullopt;
  }
  auto p = std::move(impl_->pushes.front());
  impl_->pushes.pop_front();
  return p;
}

bool connection::closed() const {
  std::lock_guard<std::mutex> guard(impl_->mu);
  return impl_->is_closed;
}

bool sync_state::accept(const message& m) {
  auto& cursor = conversations[m.conversation];
  if (m.seq <= cursor) return false;
  if (m.seq == cursor + 1) cursor = m.seq;  // beyond: leave the cursor, catch_up fills the gap
  return true;
}

void sync_state::accept(const inbox_event& e) {
  using kind = wire::InboxEventKind;
  if (e.seq > inbox_cursor) inbox_cursor = e.seq;
  switch (e.kind) {
    case kind::CONVERSATION_STARTED:
      conversations.emplace(e.conversation, 0);
      break;
    case kind::GROUP_JOINED:
      conversations.emplace("group/" + e.group, 0);
      break;
    case kind::GROUP_LEFT:
    case kind::KICKED_FROM_GROUP:
    case kind::GROUP_DISMISSED:
      conversations.erase("group/" + e.group);
      break;
    default:
      break;
  }
}

std::variant<std::vector<message>, response> pull_all(connection& c,
                                                      const std::string& conversation,
                                                      std::uint64_t after_seq) {
  std::vector<message> all;
  for (;;) {
    auto r = c.pull(conversation, all.empty() ? after_seq : all.back().seq, 200);
    if (!r.ok()) return r;
    for (auto& m : r.messages) all.push_back(std::move(m));
    if (!r.has_more) return all;
  }
}

bool retriable(ErrorCode code) {
  return code == ErrorCode::UNAVAILABLE || code == ErrorCode::TIMEOUT ||
         code == ErrorCode::INTERNAL || code == ErrorCode::RATE_LIMITED;
}

response send_until_acked(connection& c, const std::string& peer, const std::string& client_msg_id,
                          const std::string& body, int attempts,
                          const std::function<void()>& on_resend) {
  response r;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // back off before resending
      if (on_resend) on_resend();
    }
    r = c.send_to_user(peer, client_msg_id, body);
    if (!retriable(r.code)) break;
  }
  return r;
}

std::variant<std::vector<message>, response> catch_up(connection& c, sync_state& state) {
  for (;;) {
    auto r = c.sync(state.inbox_cursor);
    if (!r.ok()) return r;
    for (auto& e : r.events) state.accept(e);
    if (!r.has_more) break;
  }
  // The list says which conversations moved on: only those are pulled.
  std::map<std::string, std::uint64_t> heads;
  std::string cursor;
  for (;;) {
    auto page = c.list_conversations(cursor, 200);
    if (!page.ok()) return page;
    for (auto& e : page.conversations) heads[e.conversation] = e.last_seq;
    if (!page.has_more) break;
    cursor = page.next_cursor;
  }
  std::vector<message> fresh;
  for (auto& [conversation, head] : heads) {
    auto& cursor = state.conversations[conversation];
    if (head <= cursor) continue;
    auto pulled = pull_all(c, conversation, cursor);
    if (auto* failed = std::get_if<response>(&pulled)) {
      // Left or kicked since: the next sync removes it; the rest still catch up.
      if (failed->code == ErrorCode::NOT_MEMBER) continue;
      return *failed;
    }
    for (auto& m : std::get<std::vector<message>>(pulled)) {
      cursor = m.seq;
      fresh.push_back(std::move(m));
    }
  }
  return fresh;
}

std::string to_string(ErrorCode code) {
  // The schema's own names ("notMember"): one table, the one the wire defines.
  const auto enumerants = capnp::Schema::from<ErrorCode>().getEnumerants();
  const auto ordinal = static_cast<std::uint16_t>(code);
  if (ordinal < enumerants.size()) return enumerants[ordinal].getProto().getName();
  return "code " + std::to_string(ordinal);
}

}  // namespace parley::client
