// Connections and their hub. See include/parley/actors/connection.hpp.
//
// Input is validated here, at the edge, before anything reaches an entity actor: frame limits
// (the transport), decoding (any capnp error -> malformedFrame, the connection stays open),
// login state, name syntax, sizes. Every request gets exactly one Result with its request id;
// pushes carry request id 0.
//
// A connection runs inside its hub actor: it sends requests as the hub, and their answers come
// back to the hub, which runs the continuation only if the connection is still open (ids are
// never reused, so an answer cannot reach a later connection).

#include "parley/actors/connection.hpp"

#include "common/route.hpp"

#include "parley/actors/messages.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/framing.hpp"

#include "client.capnp.h"

#include <capnp/message.h>
#include <kj/exception.h>
#include <caf/actor_system.hpp>
#include <caf/detail/type_traits.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

#include <chrono>
#include <exception>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace parley::actors {

namespace {

using wire_frame = wire::ClientFrame;

constexpr std::size_t max_client_msg_id = 128;
constexpr std::size_t max_mentions = 100;
constexpr std::size_t max_group_name = 128;
constexpr std::size_t max_device_id = 128;

std::string text(capnp::Text::Reader t) {
  return std::string(t.cStr(), t.size());
}

class connection_hub;

/// A continuation that runs only while connection `id` is open in `hub`. Its call operator has
/// the exact parameters of F, so CAF can match the answer's types against it.
template <class F, class Args = typename caf::detail::get_callable_trait<F>::arg_types>
struct while_open;

template <class F, class... Ts>
struct while_open<F, caf::detail::type_list<Ts...>> {
  connection_hub* hub;
  std::uint64_t id;
  F f;
  void operator()(Ts... xs) const;
};

/// One client connection: its login state and request handlers. Owned by its hub.
class connection {
 public:
  connection(connection_hub& hub, std::uint64_t id, sink_ptr sink);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void on_bad_stream(errc code);
  void on_kicked(wire::KickReason reason, const std::string& detail) {
    logged_in_ = false;  // the presence actor has already dropped this session
    kick(reason, detail);
  }
  /// The presence actor holding our session went away (its shard moved or its node failed).
  void on_presence_down();
  /// The socket is closed: detach from the user. The hub forgets the connection next.
  void on_closed();
  /// A handler threw: tell the client and close (the hub and its other connections go on).
  void on_internal_error(const char* what);

 private:
  // -- frames out -------------------------------------------------------------------------------

  template <class Fill>
  void write(Fill&& fill) {
    if (!sink_) return;
    schema::message_builder message;
    auto frame = message.initRoot<wire::ServerFrame>();
    fill(frame);
    sink_->send(schema::share(schema::encode_frame(message)));
  }

  template <class Fill>
  void reply(std::uint64_t id, Fill&& fill) {
    write([&](wire::ServerFrame::Builder f) {
      f.setRequestId(id);
      auto r = f.initResult();
      r.setCode(wire::ErrorCode::OK);
      fill(r);
    });
  }

  void reply_ok(std::uint64_t id) {
    reply(id, [](wire::Result::Builder r) { r.setNone(); });
  }

  void reply_error(std::uint64_t id, errc code, const std::string& message) {
    write([&](wire::ServerFrame::Builder f) {
      f.setRequestId(id);
      auto r = f.initResult();
      r.setCode(static_cast<wire::ErrorCode>(code));
      r.setErrorMessage(message);
      r.setNone();
    });
  }

  void reply_caf_error(std::uint64_t id, const caf::error& err) {
    auto [code, message] = classify(err);
    reply_error(id, code, message);
  }

  auto error_replier(std::uint64_t id) {
    return [this, id](caf::error& err) { reply_caf_error(id, err); };
  }

  auto message_page_replier(std::uint64_t id) {
    return [this, id](record_page& page) {
      reply(id, [&](wire::Result::Builder r) {
        auto messages = r.initMessages();
        messages.setHasMore(page.has_more);
        copy_records<wire::Message>(page, messages.initMessages(page.records.size()));
      });
    };
  }

  auto group_replier(std::uint64_t id) {
    return [this, id](group_info& g) {
      reply(id, [&](wire::Result::Builder r) {
        auto info = r.initGroup();
        info.setGroupId(g.group);
        info.setName(g.name);
        info.setRole(static_cast<wire::GroupRole>(g.role));
      });
    };
  }

  /// Copies stored records (trusted, written by this engine) into a list of the frame.
  template <class T>
  static void copy_records(const record_page& page, typename capnp::List<T>::Builder list) {
    for (unsigned i = 0; i < page.records.size(); ++i) {
      auto words = schema::words_from_bytes(page.records[i]);
      auto reader = schema::read_frame(words, capnp::ReaderOptions());
      list.setWithCaveats(i, reader.getRoot<T>());
    }
  }

 public:
  /// Queues a push frame the hub encoded once for all its recipients.
  void push(const schema::shared_frame& frame) {
    if (logged_in_ && sink_) sink_->send(frame);
  }

  // -- frames in --------------------------------------------------------------------------------

  void on_frame(const schema::frame_words& words) {
    std::uint64_t request_id = 0;
    try {
      auto reader = schema::read_frame(words, svc_.options.frames.reader_options());
      auto frame = reader.getRoot<wire_frame>();
      request_id = frame.getRequestId();
      dispatch(request_id, frame);
    } catch (const kj::Exception& e) {
      svc_.counters->bad_frames.fetch_add(1, std::memory_order_relaxed);
      reply_error(request_id, errc::malformed_frame,
                  "cannot decode frame: " + std::string(e.getDescription().cStr()));
    }
  }

 private:

  void dispatch(std::uint64_t id, wire_frame::Reader frame) {
    if (closing_) return;
    switch (frame.which()) {
      case wire_frame::LOGIN:
        return on_login(id, frame.getLogin());
      case wire_frame::HEARTBEAT:
        return reply_ok(id);
      default:
        break;
    }
    if (!logged_in_) {
      return reply_error(id, errc::not_authenticated,
                         login_pending_ ? "login in progress" : "log in first");
    }
    switch (frame.which()) {
      case wire_frame::SEND:
        return on_send(id, frame.getSend());
      case wire_frame::PULL:
        return on_pull(id, frame.getPull());
      case wire_frame::HISTORY:
        return on_history(id, frame.getHistory());
      case wire_frame::SYNC:
        return on_sync(id, frame.getSync());
      case wire_frame::MARK_READ:
        return on_mark_read(id, frame.getMarkRead());
      case wire_frame::CREATE_GROUP:
        return on_create_group(id, frame.getCreateGroup());
      case wire_frame::JOIN_GROUP:
        return on_join_group(id, frame.getJoinGroup());
      case wire_frame::LEAVE_GROUP:
        return on_leave_group(id, frame.getLeaveGroup());
      case wire_frame::KICK_MEMBER:
        return on_kick_member(id, frame.getKickMember());
      case wire_frame::LOGOUT:
        return on_logout(id);
      default:
        return reply_error(
            id, errc::unsupported,
            "unknown request kind " + std::to_string(static_cast<int>(frame.which())));
    }
  }

  void on_login(std::uint64_t id, wire::Login::Reader login) {
    if (logged_in_ || login_pending_) {
      return reply_error(id, errc::already_logged_in, "this connection is logged in already");
    }
    const std::string device = text(login.getDeviceId());
    if (device.empty() || device.size() > max_device_id) {
      return reply_error(id, errc::bad_request, "device id must be 1-128 bytes");
    }
    auto verdict = svc_.tokens->verify(text(login.getToken()));
    if (auto* e = std::get_if<runtime::token_error>(&verdict)) {
      return reply_error(
          id, *e == runtime::token_error::expired ? errc::token_expired : errc::token_invalid,
          runtime::describe(*e));
    }
    login_pending_ = true;
    user_ = std::get<runtime::token_claims>(verdict).user;
    device_ = device;
    device_type_ = static_cast<std::uint16_t>(login.getDeviceType());
    log_in(id);
  }

  void on_send(std::uint64_t id, wire::Send::Reader s) {
    send_request r;
    r.sender = user_;
    r.device = device_;
    r.client_msg_id = text(s.getClientMsgId());
    r.content_type = s.getContentType();
    auto body = s.getBody();
    if (r.client_msg_id.empty() || r.client_msg_id.size() > max_client_msg_id) {
      return reply_error(id, errc::bad_request, "clientMsgId must be 1-128 bytes");
    }
    if (body.size() > svc_.options.max_body_bytes) {
      return reply_error(id, errc::bad_request,
                         "body exceeds " + std::to_string(svc_.options.max_body_bytes) + " bytes");
    }
    r.body.assign(reinterpret_cast<const char*>(body.begin()), body.size());
    auto mentions = s.getMentions();
    if (mentions.size() > max_mentions) {
      return reply_error(id, errc::bad_request, "at most 100 mentions");
    }
    for (auto m : mentions) {
      if (!runtime::valid_name(text(m))) {
        return reply_error(id, errc::bad_request, "invalid user id in mentions");
      }
      r.mentions.push_back(text(m));
    }
    auto target = s.getTarget();
    std::string entity;
    if (target.isUser()) {
      const std::string peer = text(target.getUser());
      if (!runtime::valid_name(peer)) return reply_error(id, errc::bad_request, "invalid user id");
      if (peer == user_) return reply_error(id, errc::bad_request, "cannot message yourself");
      r.conversation = runtime::dm_conversation(user_, peer);
      entity = runtime::conversation_entity(r.conversation);
    } else {
      const std::string group = text(target.getGroup());
      if (!runtime::valid_name(group))
        return reply_error(id, errc::bad_request, "invalid group id");
      r.conversation = runtime::group_conversation(group);
      entity = runtime::group_entity(group);
    }
    request(entity,
        [this, id](send_ack& ack) {
          reply(id, [&](wire::Result::Builder r) {
            auto sent = r.initSent();
            sent.setConversation(ack.conversation);
            sent.setSeq(ack.seq);
            sent.setTimestampMs(ack.timestamp_ms);
          });
        },
        error_replier(id), send_atom::value, std::move(r));
  }

  /// Where a read of `conversation` goes: the conversation itself for a direct one the user
  /// takes part in, the group (which checks membership) for a group one; "" if refused.
  std::string read_target(std::uint64_t id, const std::string& conversation) {
    auto ref = runtime::parse_conversation(conversation);
    if (!ref) {
      reply_error(id, errc::bad_request, "invalid conversation id '" + conversation + "'");
      return {};
    }
    if (ref->is_group) return runtime::group_entity(ref->group);
    if (!ref->involves(user_)) {
      reply_error(id, errc::forbidden, user_ + " is not part of " + conversation);
      return {};
    }
    return runtime::conversation_entity(conversation);
  }

  std::uint32_t page_limit(std::uint32_t asked) const {
    if (asked == 0) return svc_.options.default_page;
    return std::min(asked, svc_.options.max_page);
  }

  void on_pull(std::uint64_t id, wire::Pull::Reader p) {
    const std::string conversation = text(p.getConversation());
    const std::string target = read_target(id, conversation);
    if (target.empty()) return;
    const std::uint32_t limit = page_limit(p.getLimit());
    if (runtime::kind_of(target) == runtime::entity_kind::group) {
      request(target, message_page_replier(id), error_replier(id), pull_atom::value, user_,
          p.getAfterSeq(), limit);
    } else {
      request(target, message_page_replier(id), error_replier(id), pull_atom::value,
          p.getAfterSeq(), limit);
    }
  }

  void on_history(std::uint64_t id, wire::History::Reader h) {
    const std::string target = read_target(id, text(h.getConversation()));
    if (target.empty()) return;
    history_query q;
    q.limit = page_limit(h.getLimit());
    auto before = h.getBefore();
    if (before.isSeq())
      q.before_seq = before.getSeq();
    else
      q.before_time_ms = before.getTimeMs();
    if (runtime::kind_of(target) == runtime::entity_kind::group) {
      request(target, message_page_replier(id), error_replier(id), history_atom::value,
          user_, q);
    } else {
      request(target, message_page_replier(id), error_replier(id), history_atom::value, q);
    }
  }

  void on_sync(std::uint64_t id, wire::Sync::Reader s) {
    request(runtime::user_entity(user_),
        [this, id](record_page& page) {
          reply(id, [&](wire::Result::Builder r) {
            auto events = r.initEvents();
            events.setHasMore(page.has_more);
            copy_records<wire::InboxEvent>(page, events.initEvents(page.records.size()));
          });
        },
        error_replier(id), sync_atom::value, s.getAfterSeq(), page_limit(s.getLimit()));
  }

  void on_mark_read(std::uint64_t id, wire::MarkRead::Reader m) {
    const std::string conversation = text(m.getConversation());
    if (!runtime::parse_conversation(conversation)) {
      return reply_error(id, errc::bad_request, "invalid conversation id");
    }
    request(runtime::user_entity(user_), [this, id](std::uint64_t) { reply_ok(id); },
        error_replier(id), read_atom::value, conversation, m.getSeq());
  }

  void on_create_group(std::uint64_t id, wire::CreateGroup::Reader c) {
    std::string group = text(c.getGroupId());
    if (group.empty()) group = random_group_id();
    const std::string name = text(c.getName());
    if (!runtime::valid_name(group)) return reply_error(id, errc::bad_request, "invalid group id");
    if (name.size() > max_group_name) {
      return reply_error(id, errc::bad_request, "group name exceeds 128 bytes");
    }
    request(runtime::group_entity(group), group_replier(id), error_replier(id),
        create_atom::value, user_, name);
  }

  void on_join_group(std::uint64_t id, wire::GroupRef::Reader g) {
    const std::string group = text(g.getGroupId());
    if (!runtime::valid_name(group)) return reply_error(id, errc::bad_request, "invalid group id");
    request(runtime::group_entity(group), group_replier(id), error_replier(id),
        join_atom::value, user_);
  }

  void on_leave_group(std::uint64_t id, wire::GroupRef::Reader g) {
    const std::string group = text(g.getGroupId());
    if (!runtime::valid_name(group)) return reply_error(id, errc::bad_request, "invalid group id");
    request(runtime::group_entity(group), [this, id](std::uint64_t) { reply_ok(id); },
        error_replier(id), leave_atom::value, user_);
  }

  void on_kick_member(std::uint64_t id, wire::KickMember::Reader k) {
    const std::string group = text(k.getGroupId());
    const std::string target = text(k.getUserId());
    if (!runtime::valid_name(group) || !runtime::valid_name(target)) {
      return reply_error(id, errc::bad_request, "invalid group or user id");
    }
    request(runtime::group_entity(group), [this, id](std::uint64_t) { reply_ok(id); },
        error_replier(id), kick_atom::value, user_, target);
  }

  void on_logout(std::uint64_t id) {
    reply_ok(id);
    close();
  }

  // -- lifecycle --------------------------------------------------------------------------------

  /// Sends a request to `entity` as the hub; the continuations run while we are open.
  template <class OnOk, class OnError, class... Ts>
  void request(const std::string& entity, OnOk on_ok, OnError on_error, const Ts&... xs);

  /// Logs in at the presence actor of our user: our hub and our id in it are the session.
  void log_in(std::uint64_t request_id);

  /// Watches the presence actor that just answered (local, or a proxy of a remote one).
  void watch_presence();

  void kick(wire::KickReason reason, const std::string& detail) {
    write([&](wire::ServerFrame::Builder f) {
      f.setRequestId(0);
      auto k = f.initKicked();
      k.setReason(reason);
      k.setDetail(detail);
    });
    close();
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    if (sink_) sink_->close();
  }

  static std::string random_group_id() {
    // One generator per thread, not per connection: a mt19937_64 is 2.5 KB, more than the rest
    // of an idle connection's state.
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::uniform_int_distribution<int> d(0, 15);
    std::string id = "g";
    for (int i = 0; i < 15; ++i) id.push_back(digits[d(rng)]);
    return id;
  }

 public:
  void on_timeout(bool login) {
    if (closing_ || (login && logged_in_)) return;  // a login that just succeeded wins
    kick(wire::KickReason::HEARTBEAT_TIMEOUT, login ? "no login within the login timeout"
                                                    : "no frame within the heartbeat timeout");
  }

  void reattach(std::uint32_t attempt);

 private:
  connection_hub& hub_;
  services& svc_;
  const std::uint64_t id_;
  sink_ptr sink_;
  std::string user_;
  std::string device_;
  std::uint16_t device_type_ = 0;
  caf::actor_addr presence_;  ///< The presence actor holding our session (watched by the hub).
  bool logged_in_ = false;
  bool login_pending_ = false;
  bool closing_ = false;
};

/// The actor running a table of connections. See the header.
class connection_hub final : public caf::event_based_actor {
 public:
  connection_hub(caf::actor_config& cfg, services* svc)
      : caf::event_based_actor(cfg), svc_(*svc) {}

  const char* name() const override { return "connection-hub"; }

  services& svc() { return svc_; }

  connection* find(std::uint64_t id) {
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
  }

  /// Monitors `presence` on behalf of connection `id`: one monitor per distinct actor, however
  /// many of our connections it holds sessions of.
  void watch(const caf::actor& presence, std::uint64_t id) {
    auto& ids = watchers_[presence.address()];
    if (ids.empty()) monitor(presence);
    ids.insert(id);
  }

  void unwatch(const caf::actor_addr& presence, std::uint64_t id) {
    auto it = watchers_.find(presence);
    if (it == watchers_.end()) return;
    it->second.erase(id);
    if (!it->second.empty()) return;
    watchers_.erase(it);
    demonitor(presence);
  }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_presence_down(dm.source); });
    return {
        [this](open_atom, std::uint64_t id, sink_ptr& sink) {
          connections_.emplace(id, std::make_unique<connection>(*this, id, std::move(sink)));
        },
        [this](frame_atom, std::uint64_t id, schema::frame_words& words) {
          on(id, [&](connection& c) { c.on_frame(words); });
        },
        [this](badframe_atom, std::uint64_t id, std::uint16_t code) {
          on(id, [&](connection& c) { c.on_bad_stream(static_cast<errc>(code)); });
        },
        [this](closed_atom, std::uint64_t id) {
          on(id, [](connection& c) { c.on_closed(); });
          connections_.erase(id);
        },
        [this](push_atom, const std::vector<std::uint64_t>& ids, const std::string& frame) {
          push(ids, frame);
        },
        [this](kicked_atom, std::uint64_t id, std::uint16_t reason, std::string& detail) {
          on(id, [&](connection& c) { c.on_kicked(static_cast<wire::KickReason>(reason), detail); });
        },
        [this](timeout_atom, std::uint64_t id, bool login) {
          on(id, [&](connection& c) { c.on_timeout(login); });
        },
        [this](reattach_atom, std::uint64_t id, std::uint32_t attempt) {
          on(id, [&](connection& c) { c.reattach(attempt); });
        },
        [this](shutdown_atom) {
          for (auto& [id, c] : connections_) c->on_closed();
          connections_.clear();
          quit();
        },
    };
  }

 private:
  /// Runs `f` on connection `id` if it is open. An exception closes that connection only.
  template <class F>
  void on(std::uint64_t id, F&& f) {
    auto* c = find(id);
    if (c == nullptr) return;  // closed meanwhile: late frames and pushes are dropped
    try {
      f(*c);
    } catch (const std::exception& e) {
      c->on_internal_error(e.what());
    }
  }

  /// Queues a push frame (encoded once by the actor that stored the record) on each
  /// connection.
  void push(const std::vector<std::uint64_t>& ids, const std::string& frame_bytes) {
    const auto frame = schema::share(schema::words_from_bytes(frame_bytes));
    for (auto id : ids) on(id, [&](connection& c) { c.push(frame); });
  }

  void on_presence_down(const caf::actor_addr& presence) {
    auto it = watchers_.find(presence);
    if (it == watchers_.end()) return;
    const auto ids = std::move(it->second);
    watchers_.erase(it);
    for (auto id : ids) on(id, [](connection& c) { c.on_presence_down(); });
  }

  services& svc_;
  std::unordered_map<std::uint64_t, std::unique_ptr<connection>> connections_;
  /// The connections whose session each watched presence actor holds.
  std::unordered_map<caf::actor_addr, std::unordered_set<std::uint64_t>> watchers_;
};

// -- out-of-line parts that need the hub ----------------------------------------------------------

template <class F, class... Ts>
void while_open<F, caf::detail::type_list<Ts...>>::operator()(Ts... xs) const {
  if (hub->find(id) != nullptr) f(std::forward<Ts>(xs)...);
}

connection::connection(connection_hub& hub, std::uint64_t id, sink_ptr sink)
    : hub_(hub), svc_(hub.svc()), id_(id), sink_(std::move(sink)) {
  svc_.counters->connections.fetch_add(1, std::memory_order_relaxed);
}

connection::~connection() {
  svc_.counters->connections.fetch_sub(1, std::memory_order_relaxed);
}

template <class OnOk, class OnError, class... Ts>
void connection::request(const std::string& entity, OnOk on_ok, OnError on_error,
                         const Ts&... xs) {
  ask(&hub_, svc_, entity, while_open<OnOk>{&hub_, id_, std::move(on_ok)},
      while_open<OnError>{&hub_, id_, std::move(on_error)}, xs...);
}

void connection::on_bad_stream(errc code) {
  svc_.counters->bad_frames.fetch_add(1, std::memory_order_relaxed);
  reply_error(0, code,
              code == errc::frame_too_large
                  ? "frame exceeds " + std::to_string(svc_.options.frames.max_frame_bytes) +
                        " bytes; closing"
                  : "unreadable frame header; closing");
  kick(wire::KickReason::PROTOCOL_ERROR, "the stream cannot continue");
}

void connection::log_in(std::uint64_t request_id) {
  request(
      presence_of(svc_, user_),
      [this, request_id](std::uint64_t inbox_head) {
        login_pending_ = false;
        logged_in_ = true;
        sink_->authenticated();
        watch_presence();
        svc_.counters->logins.fetch_add(1, std::memory_order_relaxed);
        reply(request_id, [&](wire::Result::Builder r) {
          auto ok = r.initLogin();
          ok.setUserId(user_);
          ok.setInboxHead(inbox_head);
        });
      },
      [this, request_id](caf::error& err) {
        login_pending_ = false;
        reply_caf_error(request_id, err);
      },
      login_atom::value, user_, device_, device_type_, caf::actor_cast<caf::actor>(&hub_), id_);
}

void connection::watch_presence() {
  auto sender = caf::actor_cast<caf::actor>(hub_.current_sender());
  if (!sender || sender.address() == presence_) return;
  if (presence_) hub_.unwatch(presence_, id_);
  presence_ = sender.address();
  hub_.watch(sender, id_);
}

void connection::on_presence_down() {
  presence_ = nullptr;  // the hub has forgotten our watch already
  if (logged_in_ && !closing_) reattach(0);
}

void connection::reattach(std::uint32_t attempt) {
  if (closing_ || !logged_in_) return;
  constexpr std::uint32_t max_attempts = 100;  // with the backoff below: about 20 s
  request(
      presence_of(svc_, user_), [this](std::uint64_t) { watch_presence(); },
      [this, attempt](caf::error&) {
        if (attempt + 1 >= max_attempts) {
          return kick(wire::KickReason::SERVER_SHUTDOWN, "the user's node is not coming back");
        }
        hub_.delayed_send(&hub_,
                          std::chrono::milliseconds(std::min<std::uint32_t>(20 * (attempt + 1), 200)),
                          reattach_atom::value, id_, attempt + 1);
      },
      login_atom::value, user_, device_, device_type_, caf::actor_cast<caf::actor>(&hub_), id_);
}

void connection::on_closed() {
  // A login still in flight attaches a session too: the logout follows it to the same actor,
  // in order (same sender, same route), and removes it.
  if (logged_in_ || login_pending_) {
    tell_if_active(svc_, presence_of(svc_, user_), logout_atom::value, user_, device_,
                   hub_.address(), id_);
  }
  if (presence_) hub_.unwatch(presence_, id_);
  presence_ = nullptr;
  logged_in_ = false;
  closing_ = true;
  if (sink_) sink_->close();
  sink_.reset();
}

void connection::on_internal_error(const char* what) {
  reply_error(0, errc::internal, std::string("internal error: ") + what);
  kick(wire::KickReason::PROTOCOL_ERROR, "the server could not handle a frame");
}

}  // namespace

caf::actor spawn_connection_hub(services& svc) {
  return svc.system->spawn<connection_hub>(&svc);
}

}  // namespace parley::actors
