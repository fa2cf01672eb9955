// The connection actor. See include/parley/actors/connection.hpp.
//
// Input is validated here, at the edge, before anything reaches an entity actor: frame limits
// (the transport), decoding (any capnp error -> malformedFrame, the connection stays open),
// login state, name syntax, sizes. Every request gets exactly one Result with its request id;
// pushes carry request id 0.

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
#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

#include <chrono>
#include <random>

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

class connection_actor final : public caf::event_based_actor {
 public:
  connection_actor(caf::actor_config& cfg, services* svc, std::shared_ptr<connection_sink> sink)
      : caf::event_based_actor(cfg), svc_(*svc), sink_(std::move(sink)) {}

  const char* name() const override { return "connection"; }

  caf::behavior make_behavior() override {
    svc_.counters->connections.fetch_add(1, std::memory_order_relaxed);
    set_down_handler([this](caf::down_msg& dm) {
      // Our user actor went away while we are logged in: its shard moved or its node failed.
      // Register the session again with whoever owns the user now.
      if (logged_in_ && !closing_ && dm.source == user_actor_) reattach(0);
    });
    return {
        [this](frame_atom, schema::frame_words& words) { on_frame(words); },
        [this](badframe_atom, std::uint16_t code) {
          svc_.counters->bad_frames.fetch_add(1, std::memory_order_relaxed);
          const auto e = static_cast<errc>(code);
          reply_error(0, e,
                      e == errc::frame_too_large
                          ? "frame exceeds " + std::to_string(svc_.options.frames.max_frame_bytes) +
                                " bytes; closing"
                          : "unreadable frame header; closing");
          kick(wire::KickReason::PROTOCOL_ERROR, "the stream cannot continue");
        },
        [this](closed_atom) { quit(); },
        [this](push_atom, std::string& message) { push_record(message, true); },
        [this](event_atom, std::string& event) { push_record(event, false); },
        [this](kicked_atom, std::uint16_t reason, std::string& detail) {
          logged_in_ = false;  // the user actor has already dropped this session
          kick(static_cast<wire::KickReason>(reason), detail);
        },
        [this](timeout_atom, bool login) { on_timeout(login); },
        [this](reattach_atom, std::uint32_t attempt) { reattach(attempt); },
    };
  }

  void on_exit() override {
    svc_.counters->connections.fetch_sub(1, std::memory_order_relaxed);
    if (logged_in_) {
      tell_if_active(svc_, runtime::user_entity(user_), logout_atom::value, device_, address());
    }
    sink_->close();
    sink_.reset();
  }

 private:
  // -- frames out -------------------------------------------------------------------------------

  template <class Fill>
  void write(Fill&& fill) {
    if (!sink_) return;
    capnp::MallocMessageBuilder message;
    auto frame = message.initRoot<wire::ServerFrame>();
    fill(frame);
    sink_->send(schema::encode_frame(message));
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

  void push_record(const std::string& stored, bool is_message) {
    if (!logged_in_) return;
    auto words = schema::words_from_bytes(stored);
    auto reader = schema::read_frame(words, capnp::ReaderOptions());
    write([&](wire::ServerFrame::Builder f) {
      f.setRequestId(0);
      if (is_message)
        f.setMessage(reader.getRoot<wire::Message>());
      else
        f.setEvent(reader.getRoot<wire::InboxEvent>());
    });
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
    const auto device_type = static_cast<std::uint16_t>(login.getDeviceType());
    device_type_ = device_type;
    ask(
        this, svc_, runtime::user_entity(user_),
        [this, id](std::uint64_t inbox_head) {
          login_pending_ = false;
          logged_in_ = true;
          sink_->authenticated();
          watch_user_actor();
          svc_.counters->logins.fetch_add(1, std::memory_order_relaxed);
          reply(id, [&](wire::Result::Builder r) {
            auto ok = r.initLogin();
            ok.setUserId(user_);
            ok.setInboxHead(inbox_head);
          });
        },
        [this, id](caf::error& err) {
          login_pending_ = false;
          reply_caf_error(id, err);
        },
        login_atom::value, device_, device_type, caf::actor_cast<caf::actor>(this));
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
    ask(
        this, svc_, entity,
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
      ask(this, svc_, target, message_page_replier(id), error_replier(id), pull_atom::value, user_,
          p.getAfterSeq(), limit);
    } else {
      ask(this, svc_, target, message_page_replier(id), error_replier(id), pull_atom::value,
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
      ask(this, svc_, target, message_page_replier(id), error_replier(id), history_atom::value,
          user_, q);
    } else {
      ask(this, svc_, target, message_page_replier(id), error_replier(id), history_atom::value, q);
    }
  }

  void on_sync(std::uint64_t id, wire::Sync::Reader s) {
    ask(
        this, svc_, runtime::user_entity(user_),
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
    ask(
        this, svc_, runtime::user_entity(user_), [this, id](std::uint64_t) { reply_ok(id); },
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
    ask(this, svc_, runtime::group_entity(group), group_replier(id), error_replier(id),
        create_atom::value, user_, name);
  }

  void on_join_group(std::uint64_t id, wire::GroupRef::Reader g) {
    const std::string group = text(g.getGroupId());
    if (!runtime::valid_name(group)) return reply_error(id, errc::bad_request, "invalid group id");
    ask(this, svc_, runtime::group_entity(group), group_replier(id), error_replier(id),
        join_atom::value, user_);
  }

  void on_leave_group(std::uint64_t id, wire::GroupRef::Reader g) {
    const std::string group = text(g.getGroupId());
    if (!runtime::valid_name(group)) return reply_error(id, errc::bad_request, "invalid group id");
    ask(
        this, svc_, runtime::group_entity(group), [this, id](std::uint64_t) { reply_ok(id); },
        error_replier(id), leave_atom::value, user_);
  }

  void on_kick_member(std::uint64_t id, wire::KickMember::Reader k) {
    const std::string group = text(k.getGroupId());
    const std::string target = text(k.getUserId());
    if (!runtime::valid_name(group) || !runtime::valid_name(target)) {
      return reply_error(id, errc::bad_request, "invalid group or user id");
    }
    ask(
        this, svc_, runtime::group_entity(group), [this, id](std::uint64_t) { reply_ok(id); },
        error_replier(id), kick_atom::value, user_, target);
  }

  void on_logout(std::uint64_t id) {
    reply_ok(id);
    close();
  }

  // -- lifecycle --------------------------------------------------------------------------------

  /// Monitors the user actor that just answered (local, or a proxy of a remote one).
  void watch_user_actor() {
    auto sender = caf::actor_cast<caf::actor>(current_sender());
    if (!sender) return;
    user_actor_ = sender.address();
    monitor(sender);
  }

  void reattach(std::uint32_t attempt) {
    if (closing_ || !logged_in_) return;
    constexpr std::uint32_t max_attempts = 100;  // with the backoff below: about 20 s
    ask(
        this, svc_, runtime::user_entity(user_), [this](std::uint64_t) { watch_user_actor(); },
        [this, attempt](caf::error&) {
          if (attempt + 1 >= max_attempts) {
            return kick(wire::KickReason::SERVER_SHUTDOWN, "the user's node is not coming back");
          }
          delayed_send(this,
                       std::chrono::milliseconds(std::min<std::uint32_t>(20 * (attempt + 1), 200)),
                       reattach_atom::value, attempt + 1);
        },
        login_atom::value, device_, device_type_, caf::actor_cast<caf::actor>(this));
  }

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

  void on_timeout(bool login) {
    if (closing_ || (login && logged_in_)) return;  // a login that just succeeded wins
    kick(wire::KickReason::HEARTBEAT_TIMEOUT, login ? "no login within the login timeout"
                                                    : "no frame within the heartbeat timeout");
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

  services& svc_;
  std::shared_ptr<connection_sink> sink_;
  std::string user_;
  std::string device_;
  std::uint16_t device_type_ = 0;
  caf::actor_addr user_actor_;  ///< The user actor holding our session (monitored).
  bool logged_in_ = false;
  bool login_pending_ = false;
  bool closing_ = false;
};

}  // namespace

caf::actor spawn_connection(services& svc, std::shared_ptr<connection_sink> sink) {
  return svc.system->spawn<connection_actor>(&svc, std::move(sink));
}

}  // namespace parley::actors
