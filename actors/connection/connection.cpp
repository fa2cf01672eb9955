// The session state machine and request handlers of one client connection. See
// connection.hpp; validation in validation.cpp, encoders in replies.cpp, the hub in hub.cpp.

#include "connection/connection.hpp"

#include "common/fan_in.hpp"
#include "common/records.hpp"
#include "connection/hub.hpp"
#include "group/group.hpp"
#include "presence/presence.hpp"
#include "user/user.hpp"

#include "parley/actors/wire_errors.hpp"
#include "parley/runtime/random_id.hpp"
#include "parley/runtime/rate_limit.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/log.hpp"

#include <kj/exception.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <utility>

namespace parley::actors {

namespace {

using schema::text;
using wire_frame = wire::ClientFrame;

}  // namespace

// -- frames out -----------------------------------------------------------------------------------

template <class Fill>
void connection::write(Fill&& fill) {
  if (sink_) sink_->send(encode_server_frame(std::forward<Fill>(fill)));
}

template <class Fill>
void connection::reply(request_ref id, Fill&& fill) {
  write([&](wire::ServerFrame::Builder f) {
    f.setRequestId(id.id);
    auto r = f.initResult();
    r.setCode(wire::ErrorCode::OK);
    fill(r);
  });
  if (sink_) sink_->answered(id.bytes);
}

void connection::reply_ok(request_ref id) {
  reply(id, [](wire::Result::Builder r) { r.setNone(); });
}

void connection::reply_error(request_ref id, const error& err) {
  write_error(id.id, err);
  if (sink_) sink_->answered(id.bytes);
}

void connection::write_error(std::uint64_t request_id, const error& err) {
  write([&](wire::ServerFrame::Builder f) {
    f.setRequestId(request_id);
    fill_error(f.initResult(), err);
  });
}

template <class Interface, class OnOk, class OnError, class... Ts>
void connection::request(const entity_handle<Interface>& entity, OnOk on_ok, OnError on_error,
                         const Ts&... xs) {
  ask(&hub_, svc_, entity, while_open<OnOk>{&hub_, id_, std::move(on_ok)},
      while_open<OnError>{&hub_, id_, std::move(on_error)}, xs...);
}

// -- requests -------------------------------------------------------------------------------------

void connection::on_frame(const schema::frame_words& words) {
  request_ref id{0, static_cast<std::uint32_t>(words.size() * sizeof(std::uint64_t)),
                 std::chrono::steady_clock::now()};
  try {
    auto reader = schema::read_frame(words, svc_.options.frames.reader_options());
    auto frame = reader.getRoot<wire_frame>();
    id.id = frame.getRequestId();
    dispatch(id, frame);
  } catch (const kj::Exception&) {
    // Never the decoder's own text: it names library internals.
    svc_.counters->bad_frames.fetch_add(1, std::memory_order_relaxed);
    log::write_limited(log::level::warn, "bad_frame",
                       {{"peer", peer()}, {"user", user_}, {"detail", "not a valid ClientFrame"}});
    reply_error(id, errc::malformed_frame, "the frame is not a valid ClientFrame");
  }
}

/// Whether this request fits the user's rate (heartbeats are free). The connection's own
/// rate is the gateway's: it reads the socket no faster.
bool connection::within_rate(const wire_frame::Reader& frame) {
  if (frame.which() == wire_frame::HEARTBEAT || !logged_in_) return true;
  return svc_.user_rates == nullptr || svc_.user_rates->try_take(user_);
}

void connection::dispatch(request_ref id, wire_frame::Reader frame) {
  if (closing_) {
    if (sink_) sink_->answered(id.bytes);  // nobody reads the answer; free the budget
    return;
  }
  if (!within_rate(frame)) {
    log::write_limited(log::level::info, "rate_limited", {{"peer", peer()}, {"user", user_}});
    return reply_error(id, errc::rate_limited, "too many requests; slow down and retry");
  }
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
    case wire_frame::CHANGE_MESSAGE:
      return on_change_message(id, frame.getChangeMessage());
    case wire_frame::READ_RECEIPTS:
      return on_read_receipts(id, frame.getReadReceipts());
    case wire_frame::REQUEST_FRIEND:
      return on_relate(id, relation_op::request, text(frame.getRequestFriend().getUser()),
                       text(frame.getRequestFriend().getMessage()));
    case wire_frame::ANSWER_FRIEND:
      return on_relate(
          id, frame.getAnswerFriend().getAccept() ? relation_op::accept : relation_op::decline,
          text(frame.getAnswerFriend().getUser()));
    case wire_frame::CANCEL_FRIEND_REQUEST:
      return on_relate(id, relation_op::cancel, text(frame.getCancelFriendRequest().getUser()));
    case wire_frame::REMOVE_FRIEND:
      return on_relate(id, relation_op::remove, text(frame.getRemoveFriend().getUser()));
    case wire_frame::BLOCK:
      return on_relate(id, relation_op::block, text(frame.getBlock().getUser()));
    case wire_frame::UNBLOCK:
      return on_relate(id, relation_op::unblock, text(frame.getUnblock().getUser()));
    case wire_frame::LIST_RELATIONS:
      return on_list_relations(id, frame.getListRelations());
    case wire_frame::LIST_CONVERSATIONS:
      return on_list_conversations(id, frame.getListConversations());
    case wire_frame::SET_CONVERSATION_FLAGS:
      return on_set_conversation_flags(id, frame.getSetConversationFlags());
    case wire_frame::SET_PRESENCE:
      return on_set_presence(id, frame.getSetPresence());
    case wire_frame::WATCH_PRESENCE:
      return on_watch_presence(id, frame.getWatchPresence());
    case wire_frame::LIST_DEVICES:
      return on_list_devices(id);
    case wire_frame::SET_PROFILE:
      return on_set_profile(id, frame.getSetProfile());
    case wire_frame::GET_PROFILES:
      return on_get_profiles(id, frame.getGetProfiles());
    case wire_frame::UPDATE_GROUP:
      return on_update_group(id, frame.getUpdateGroup());
    case wire_frame::MUTE_MEMBER:
      return on_mute_member(id, frame.getMuteMember());
    case wire_frame::GROUP_PROFILE:
      return on_group_profile(id, frame.getGroupProfile());
    case wire_frame::LIST_MEMBERS:
      return on_list_members(id, frame.getListMembers());
    case wire_frame::LOGOUT_DEVICE:
      return on_logout_device(id, text(frame.getLogoutDevice()));
    case wire_frame::CREATE_GROUP:
      return on_create_group(id, frame.getCreateGroup());
    case wire_frame::JOIN_GROUP:
      return on_join_group(id, frame.getJoinGroup());
    case wire_frame::LEAVE_GROUP:
      return on_leave_group(id, frame.getLeaveGroup());
    case wire_frame::KICK_MEMBER:
      return on_kick_member(id, frame.getKickMember());
    case wire_frame::SET_MEMBER_ROLE:
      return on_set_member_role(id, frame.getSetMemberRole());
    case wire_frame::TRANSFER_GROUP:
      return on_transfer_group(id, frame.getTransferGroup());
    case wire_frame::DISMISS_GROUP:
      return on_dismiss_group(id, frame.getDismissGroup());
    case wire_frame::ANSWER_JOIN_REQUEST:
      return on_answer_join_request(id, frame.getAnswerJoinRequest());
    case wire_frame::LIST_JOIN_REQUESTS:
      return on_list_join_requests(id, frame.getListJoinRequests());
    case wire_frame::INVITE_TO_GROUP:
      return on_invite_to_group(id, frame.getInviteToGroup());
    case wire_frame::ANSWER_GROUP_INVITE:
      return on_answer_group_invite(id, frame.getAnswerGroupInvite());
    case wire_frame::SET_RETENTION:
      return on_set_retention(id, frame.getSetRetention());
    case wire_frame::ADD_MEMBER:
      return on_add_member(id, frame.getAddMember());
    case wire_frame::LOGOUT:
      return on_logout(id);
    case wire_frame::TYPING:
      return on_typing(id, frame.getTyping());
    default:
      return reply_error(id, errc::unsupported,
                         "unknown request kind " + std::to_string(static_cast<int>(frame.which())));
  }
}

/// A login, or on a logged-in connection a refresh: the same user and device with a new
/// token, which extends the session to the new token's expiry.
void connection::on_login(request_ref id, wire::Login::Reader login) {
  if (login_pending_) {
    return reply_error(id, errc::already_logged_in, "a login is in progress");
  }
  const std::string device = text(login.getDeviceId());
  if (!valid_device_id(device)) {
    return reply_error(id, errc::bad_request,
                       "device id must be 1-128 bytes without control characters");
  }
  auto verdict = svc_.tokens->verify(text(login.getToken()));
  if (!verdict) return refuse_login(id, verdict.error(), {});
  auto& claims = *verdict;
  const auto device_type = static_cast<std::uint16_t>(login.getDeviceType());
  if (auto wrong = claims.admits_device(device_type)) return refuse_login(id, wrong, claims.user);
  if (logged_in_ && (claims.user != user_ || device != device_)) {
    return reply_error(id, errc::already_logged_in,
                       "this connection is logged in as another user or device");
  }
  login_pending_ = true;
  user_ = claims.user;
  device_ = device;
  device_type_ = device_type;
  expires_unix_s_ = claims.expires_unix_s;
  token_issued_us_ = claims.issued_unix_us;
  log_in(id);
}

void connection::on_send(request_ref id, wire::Send::Reader s) {
  auto checked = validate_send(s, user_, device_, svc_.options);
  if (!checked) return reply_error(id, checked.error());
  auto& send = *checked;
  send_within_quota(id, entity_handle<conversation_log>(std::move(send.entity)),
                    std::move(send.request));
}

void connection::forward_send(request_ref id, const entity_handle<conversation_log>& entity,
                              send_request r) {
  request(
      entity,
      [this, id](send_ack& ack) {
        reply(id, [&](wire::Result::Builder r) { fill_sent(r, ack); });
        svc_.counters->send_ack_us.observe(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::chrono::steady_clock::now() - id.received)
                                           .count()));
      },
      error_replier(id), send_atom::value, std::move(r));
}

/// Spends the body's bytes of the quota this connection leased from its user actor, then
/// forwards the send; asks for more when the lease runs out. Later sends wait behind one
/// that waits, so pipelined sends still reach their conversations in the order sent.
void connection::send_within_quota(request_ref id, entity_handle<conversation_log> entity,
                                   send_request r) {
  const std::uint64_t bytes = r.body.size();
  if (svc_.options.max_stored_bytes_per_user == 0) return forward_send(id, entity, std::move(r));
  if (quota_waiting_.empty() && bytes <= quota_left_) {
    quota_left_ -= bytes;
    return forward_send(id, entity, std::move(r));
  }
  quota_waiting_.push_back(quota_waiter{id, std::move(entity), std::move(r)});
  if (!quota_asked_) ask_quota();
}

void connection::ask_quota() {
  std::uint64_t waiting = 0;
  for (const auto& w : quota_waiting_) waiting += w.r.body.size();
  const std::uint64_t need = quota_waiting_.front().r.body.size() - quota_left_;
  const std::uint64_t want = std::max<std::uint64_t>(svc_.options.stored_bytes_lease, waiting);
  quota_asked_ = true;
  request(
      user::of(user_),
      [this](std::uint64_t granted) {
        quota_asked_ = false;
        quota_left_ += granted;
        release_quota_waiters();
      },
      [this](caf::error& err) {
        quota_asked_ = false;
        auto refused = std::move(quota_waiting_);
        quota_waiting_.clear();
        for (auto& w : refused) reply_error(w.id, from_caf(err));
      },
      grant_atom::value, want, need);
}

void connection::release_quota_waiters() {
  std::size_t covered = 0;  // the leading waiters the lease now pays for, in order
  while (covered < quota_waiting_.size() && quota_waiting_[covered].r.body.size() <= quota_left_) {
    quota_left_ -= quota_waiting_[covered].r.body.size();
    ++covered;
  }
  const auto first = quota_waiting_.begin();
  const auto last = first + static_cast<std::ptrdiff_t>(covered);
  std::vector<quota_waiter> ready(std::make_move_iterator(first), std::make_move_iterator(last));
  quota_waiting_.erase(first, last);
  for (auto& w : ready) forward_send(w.id, w.entity, std::move(w.r));
  if (!quota_waiting_.empty()) ask_quota();
}

/// Gives the unspent lease back to the user actor (closing).
void connection::refund_quota() {
  if (quota_left_ == 0 || user_.empty()) return;
  request(
      user::of(user_), [] {}, [](caf::error&) {}, refund_atom::value, quota_left_);
  quota_left_ = 0;
}

void connection::on_pull(request_ref id, wire::Pull::Reader p) {
  const std::string conversation = text(p.getConversation());
  auto checked = validate_read(conversation, user_);
  if (!checked) return reply_error(id, checked.error());
  request(conversation_log_of(*checked, conversation), replier<record_page>(id, fill_messages),
          error_replier(id), pull_atom::value, user_, p.getAfterSeq(),
          page_limit(p.getLimit(), svc_.options));
}

void connection::on_history(request_ref id, wire::History::Reader h) {
  const std::string conversation = text(h.getConversation());
  auto checked = validate_read(conversation, user_);
  if (!checked) return reply_error(id, checked.error());
  auto query = validate_history(h, svc_.options);
  if (!query) return reply_error(id, query.error());
  request(conversation_log_of(*checked, conversation), replier<record_page>(id, fill_messages),
          error_replier(id), history_atom::value, user_, *query);
}

void connection::on_sync(request_ref id, wire::Sync::Reader s) {
  request(user::of(user_), replier<record_page>(id, fill_events), error_replier(id),
          sync_atom::value, s.getAfterSeq(), page_limit(s.getLimit(), svc_.options));
}

void connection::on_mark_read(request_ref id, wire::MarkRead::Reader m) {
  const std::string conversation = text(m.getConversation());
  auto checked = validate_read(conversation, user_);
  if (!checked) return reply_error(id, checked.error());
  const std::uint64_t seq = m.getSeq();
  auto then = [this, id, conversation, seq](std::uint64_t) {
    request(
        user::of(user_), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
        read_atom::value, conversation, seq);
  };
  request(conversation_log_of(*checked, conversation), then, error_replier(id), read_atom::value,
          user_, seq);
}

void connection::on_change_message(request_ref id, wire::ChangeMessage::Reader c) {
  auto checked = validate_change(c, user_, device_, svc_.options);
  if (!checked) return reply_error(id, checked.error());
  auto& change = *checked;
  auto log = conversation_log_of(change.ref, change.request.conversation);
  if (!change.hide_only) return send_within_quota(id, std::move(log), std::move(change.request));
  inbox_event_spec spec;
  spec.kind = static_cast<std::uint16_t>(wire::InboxEventKind::MESSAGE_HIDDEN);
  spec.conversation = change.request.conversation;
  spec.arg_seq = change.request.target;
  auto then = [this, id, spec = std::move(spec)](std::uint64_t head) {
    if (spec.arg_seq > head) {
      return reply_error(id, errc::not_found,
                         "no message " + std::to_string(spec.arg_seq) + " in " + spec.conversation);
    }
    request(
        user::of(user_), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
        announce_atom::value, spec);
  };
  request(log, then, error_replier(id), head_atom::value, user_);
}

void connection::on_read_receipts(request_ref id, wire::ReadReceipts::Reader r) {
  const std::string conversation = text(r.getConversation());
  auto checked = validate_read(conversation, user_);
  if (!checked) return reply_error(id, checked.error());
  auto asked = r.getSeqs();
  if (asked.size() > max_receipt_seqs) {
    return reply_error(id, errc::bad_request, "at most 100 seqs per request");
  }
  std::vector<std::uint64_t> seqs;
  for (auto seq : asked) seqs.push_back(seq);
  request(conversation_log_of(*checked, conversation), replier<read_receipts>(id, fill_receipts),
          error_replier(id), receipts_atom::value, user_, seqs);
}

void connection::on_relate(request_ref id, relation_op op, const std::string& other,
                           const std::string& message) {
  if (auto err = validate_relation(user_, other, message)) return reply_error(id, err);
  request(
      user::of(user_),
      [this, id](std::uint16_t relation) {
        reply(id, [&](wire::Result::Builder r) {
          r.setRelation(static_cast<wire::Relation>(relation));
        });
      },
      error_replier(id), relate_atom::value, static_cast<std::uint16_t>(op), other, message);
}

void connection::on_list_relations(request_ref id, wire::ListRelations::Reader l) {
  const auto filter = static_cast<std::uint16_t>(l.getRelation());
  if (filter > static_cast<std::uint16_t>(wire::Relation::BLOCKED)) {
    return reply_error(id, errc::bad_request, "unknown relation");
  }
  const std::string after = text(l.getAfterUser());
  if (!after.empty() && !runtime::valid_name(after)) {
    return reply_error(id, errc::bad_request, "invalid user id in afterUser");
  }
  request(user::of(user_), replier<relation_page>(id, fill_relations), error_replier(id),
          relations_atom::value, filter, after, page_limit(l.getLimit(), svc_.options));
}

void connection::on_list_conversations(request_ref id, wire::ListConversations::Reader l) {
  const std::string cursor = text(l.getCursor());
  if (cursor.size() > 512) return reply_error(id, errc::bad_request, "not a cursor of this list");
  request(user::of(user_), replier<conversation_list>(id, fill_conversations), error_replier(id),
          convlist_atom::value, cursor, page_limit(l.getLimit(), svc_.options));
}

void connection::on_set_conversation_flags(request_ref id, wire::ConversationFlags::Reader f) {
  const std::string conversation = text(f.getConversation());
  auto checked = validate_read(conversation, user_);
  if (!checked) return reply_error(id, checked.error());
  request(
      user::of(user_), [this, id](bool) { reply_ok(id); }, error_replier(id), flags_atom::value,
      conversation, f.getMuted(), f.getPinned());
}

void connection::on_update_group(request_ref id, wire::UpdateGroup::Reader u) {
  auto checked = validate_update_group(u);
  if (!checked) return reply_error(id, checked.error());
  request(group::of(checked->group), replier<group_summary>(id, fill_group_profile),
          error_replier(id), update_atom::value, user_, checked->update);
}

void connection::on_mute_member(request_ref id, wire::MuteMember::Reader m) {
  auto change = validate_member_change(text(m.getGroupId()), text(m.getUserId()));
  if (!change) return reply_error(id, change.error());
  request(
      group::of(change->group), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
      mute_atom::value, user_, change->user, m.getUntilMs());
}

void connection::on_group_profile(request_ref id, wire::GroupRef::Reader g) {
  auto group = validate_group_ref(g);
  if (!group) return reply_error(id, group.error());
  request(group::of(*group), replier<group_summary>(id, fill_group_profile), error_replier(id),
          info_atom::value, user_);
}

void connection::on_list_members(request_ref id, wire::ListMembers::Reader l) {
  const std::string group = text(l.getGroupId());
  const std::string after = text(l.getAfterUser());
  if (!runtime::valid_name(group)) return reply_error(id, errc::bad_request, "invalid group id");
  if (!after.empty() && !runtime::valid_name(after)) {
    return reply_error(id, errc::bad_request, "invalid user id in afterUser");
  }
  request(group::of(group), replier<member_page>(id, fill_members), error_replier(id),
          members_atom::value, user_, after, page_limit(l.getLimit(), svc_.options));
}

void connection::on_set_profile(request_ref id, wire::Profile::Reader p) {
  auto profile = validate_profile(p, user_, now_ms());
  if (!profile) return reply_error(id, profile.error());
  request(
      user::of(user_), [this, id](bool) { reply_ok(id); }, error_replier(id), setprof_atom::value,
      *profile);
}

void connection::on_get_profiles(request_ref id, capnp::List<capnp::Text>::Reader listed) {
  if (listed.size() > max_profiles_per_request) {
    return reply_error(id, errc::bad_request, "at most 100 users per request");
  }
  std::vector<std::string> users;
  for (auto u : listed) {
    std::string user = text(u);
    if (!runtime::valid_name(user)) return reply_error(id, errc::bad_request, "invalid user id");
    users.push_back(std::move(user));
  }
  struct state : fan_in {
    using fan_in::fan_in;
    std::vector<std::string> profiles;
  };
  auto s = std::make_shared<state>(users.size());
  s->profiles.resize(users.size());
  auto finish = [this, id, s] {
    reply(id, [&](wire::Result::Builder r) {
      schema::copy_stored<wire::Profile>(s->profiles, r.initProfiles(s->profiles.size()));
    });
  };
  if (users.empty()) return finish();
  for (std::size_t i = 0; i < users.size(); ++i) {
    request(
        user::of(users[i]),
        [s, finish, i](std::string& profile) {
          s->profiles[i] = std::move(profile);
          if (s->arrived()) finish();
        },
        [this, id, s](caf::error& err) {
          if (s->fail()) reply_error(id, from_caf(err));
        },
        getprof_atom::value, user_);
  }
}

void connection::on_list_devices(request_ref id) {
  request(
      presence::of_user(svc_, user_),
      [this, id](std::vector<session_info>& sessions) {
        reply(id, [&](wire::Result::Builder r) {
          auto out = r.initDevices(static_cast<unsigned>(sessions.size()));
          for (unsigned i = 0; i < sessions.size(); ++i) {
            out[i].setDeviceId(sessions[i].device);
            out[i].setDeviceType(static_cast<wire::DeviceType>(sessions[i].device_type));
            out[i].setSinceMs(sessions[i].since_ms);
            out[i].setCurrent(sessions[i].device == device_);
          }
        });
      },
      error_replier(id), sessions_atom::value, user_);
}

void connection::on_logout_device(request_ref id, const std::string& device) {
  if (!valid_device_id(device)) return reply_error(id, errc::bad_request, "invalid device id");
  if (device == device_) {
    return reply_error(id, errc::bad_request, "this is the asking device: use logout");
  }
  request(
      presence::of_user(svc_, user_),
      [this, id, device](std::uint64_t ended) {
        if (ended == 0) return reply_error(id, errc::not_found, "no session of device " + device);
        reply_ok(id);
      },
      error_replier(id), kickuser_atom::value, user_, device,
      static_cast<std::uint16_t>(wire::KickReason::LOGGED_OUT_BY_USER),
      std::string("logged out from another device of this user"));
}

void connection::on_set_presence(request_ref id, wire::SetPresence::Reader p) {
  using status = wire::PresenceStatus;
  const status chosen = p.getStatus();
  if (chosen != status::ONLINE && chosen != status::AWAY && chosen != status::BUSY &&
      chosen != status::INVISIBLE) {
    return reply_error(id, errc::bad_request, "a status is online, away, busy or invisible");
  }
  request(
      presence::of_user(svc_, user_), [this, id](std::uint16_t) { reply_ok(id); },
      error_replier(id), status_atom::value, user_, static_cast<std::uint16_t>(chosen));
}

void connection::on_watch_presence(request_ref id, wire::WatchPresence::Reader w) {
  constexpr std::size_t max_watched = 1000;
  constexpr std::uint64_t watch_ms = 3600 * 1000;  // an hour; clients renew
  auto listed = w.getUsers();
  if (listed.size() > max_watched) {
    return reply_error(id, errc::bad_request, "at most 1000 users per request");
  }
  std::vector<std::string> users;
  for (auto u : listed) {
    std::string user = text(u);
    if (!runtime::valid_name(user)) return reply_error(id, errc::bad_request, "invalid user id");
    if (std::find(users.begin(), users.end(), user) == users.end()) users.push_back(user);
  }
  const std::uint64_t until = w.getWatch() ? now_ms() + watch_ms : 0;
  auto shards = presence::by_shard(svc_, users);
  struct gathering : fan_in {
    using fan_in::fan_in;
    std::vector<std::string> order;
    std::map<std::string, presence_entry> found;
  };
  auto state = std::make_shared<gathering>(shards.size());
  state->order = users;
  auto finish = [this, id, state] {
    reply(id, [&](wire::Result::Builder r) {
      auto out = r.initPresences(static_cast<unsigned>(state->found.size()));
      unsigned i = 0;
      for (const auto& user : state->order) {
        auto it = state->found.find(user);
        if (it == state->found.end()) continue;
        out[i].setUser(user);
        out[i].setStatus(static_cast<wire::PresenceStatus>(it->second.status));
        out[i].setLastSeenMs(it->second.last_seen_ms);
        ++i;
      }
    });
  };
  if (shards.empty()) return finish();
  for (auto& [shard, members] : shards) {
    request(
        presence::of_shard(shard),
        [state, finish](std::vector<presence_entry>& entries) {
          for (auto& e : entries) state->found[e.user] = e;
          if (state->arrived()) finish();
        },
        [this, id, state](caf::error& err) {
          if (state->fail()) reply_error(id, from_caf(err));
        },
        watch_atom::value, user_, members, until);
  }
}

void connection::on_typing(request_ref id, wire::Typing::Reader t) {
  // Typing notices are frequent and worth nothing late: two a second, a burst of four.
  constexpr runtime::rate_limit typing_rate{2, 4};
  const std::string conversation = text(t.getConversation());
  auto checked = validate_read(conversation, user_);
  if (!checked) return reply_error(id, checked.error());
  if (checked->is_system) {
    return reply_error(id, errc::bad_request, "a system conversation has no one to tell");
  }
  if (!typing_bucket_.try_take(typing_rate, runtime::token_bucket::clock::now())) {
    return reply_error(id, errc::rate_limited, "at most 2 typing notices a second");
  }
  const std::string frame = encode_typing_frame(conversation, user_);
  if (checked->is_group) {
    request(
        group::of(checked->group), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
        typing_atom::value, user_, device_, frame);
    return;
  }
  // A direct conversation tells the peer unless a block (or the friends-only setting) forbids.
  request(
      conversation::of(conversation), [this, id](std::uint64_t) { reply_ok(id); },
      error_replier(id), typing_atom::value, user_, device_, frame);
}

void connection::on_create_group(request_ref id, wire::CreateGroup::Reader c) {
  auto checked = validate_create_group(c);
  if (!checked) return reply_error(id, checked.error());
  auto& create = *checked;
  if (create.group.empty()) {
    auto random = runtime::random_id("g");  // unguessable: ids are not a secret, but
    if (!random) return reply_error(id, random.error());
    create.group = std::move(*random);  // guessing one should not be a way in either
  }
  request(group::of(create.group), replier<group_info>(id, fill_group), error_replier(id),
          create_atom::value, user_, create.spec);
}

void connection::on_join_group(request_ref id, wire::GroupRef::Reader g) {
  auto group = validate_group_ref(g);
  if (!group) return reply_error(id, group.error());
  auto message = validate_note(g.getMessage());
  if (!message) return reply_error(id, message.error());
  request(group::of(*group), replier<group_info>(id, fill_group), error_replier(id),
          join_atom::value, user_, *message);
}

void connection::on_set_member_role(request_ref id, wire::SetMemberRole::Reader r) {
  auto change = validate_member_change(text(r.getGroupId()), text(r.getUserId()));
  if (!change) return reply_error(id, change.error());
  request(group::of(change->group), replier<group_info>(id, fill_group), error_replier(id),
          role_atom::value, user_, change->user, static_cast<std::uint16_t>(r.getRole()));
}

void connection::on_transfer_group(request_ref id, wire::MemberRef::Reader m) {
  auto change = validate_member_change(text(m.getGroupId()), text(m.getUserId()));
  if (!change) return reply_error(id, change.error());
  request(group::of(change->group), replier<group_info>(id, fill_group), error_replier(id),
          transfer_atom::value, user_, change->user);
}

void connection::on_dismiss_group(request_ref id, wire::GroupRef::Reader g) {
  auto group = validate_group_ref(g);
  if (!group) return reply_error(id, group.error());
  request(
      group::of(*group), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
      dismiss_atom::value, user_);
}

void connection::on_answer_join_request(request_ref id, wire::JoinAnswer::Reader a) {
  auto change = validate_member_change(text(a.getGroupId()), text(a.getUserId()));
  if (!change) return reply_error(id, change.error());
  request(group::of(change->group), replier<group_info>(id, fill_group), error_replier(id),
          answerjoin_atom::value, user_, change->user, a.getAccept());
}

void connection::on_list_join_requests(request_ref id, wire::GroupRef::Reader g) {
  auto group = validate_group_ref(g);
  if (!group) return reply_error(id, group.error());
  request(group::of(*group), replier<std::vector<join_request>>(id, fill_join_requests),
          error_replier(id), joinreqs_atom::value, user_);
}

void connection::on_invite_to_group(request_ref id, wire::GroupInvite::Reader i) {
  auto change = validate_member_change(text(i.getGroupId()), text(i.getUserId()));
  if (!change) return reply_error(id, change.error());
  auto message = validate_note(i.getMessage());
  if (!message) return reply_error(id, message.error());
  if (change->user == user_)
    return reply_error(id, errc::bad_request, "you cannot invite yourself");
  request(
      group::of(change->group), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
      invite_atom::value, user_, change->user, *message);
}

void connection::on_set_retention(request_ref id, wire::Retention::Reader r) {
  const std::string conversation = text(r.getConversation());
  auto checked = validate_read(conversation, user_);
  if (!checked) return reply_error(id, checked.error());
  if (checked->is_system) {
    return reply_error(id, errc::forbidden, "only the app sets a system conversation's retention");
  }
  if (r.getSeconds() > max_retention_seconds) {
    return reply_error(id, errc::bad_request, "retention exceeds a hundred years");
  }
  request(
      conversation_log_of(*checked, conversation), [this, id](std::uint64_t) { reply_ok(id); },
      error_replier(id), retention_atom::value, user_, r.getSeconds() * 1000);
}

void connection::on_answer_group_invite(request_ref id, wire::InviteAnswer::Reader a) {
  const std::string group = text(a.getGroupId());
  if (!runtime::valid_name(group)) return reply_error(id, errc::bad_request, "invalid group id");
  request(group::of(group), replier<group_info>(id, fill_group), error_replier(id),
          answerinv_atom::value, user_, a.getAccept());
}

void connection::on_leave_group(request_ref id, wire::GroupRef::Reader g) {
  auto group = validate_group_ref(g);
  if (!group) return reply_error(id, group.error());
  request(
      group::of(*group), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
      leave_atom::value, user_);
}

void connection::on_kick_member(request_ref id, wire::KickMember::Reader k) {
  auto change = validate_member_change(text(k.getGroupId()), text(k.getUserId()));
  if (!change) return reply_error(id, change.error());
  auto& c = *change;
  request(
      group::of(c.group), [this, id](std::uint64_t) { reply_ok(id); }, error_replier(id),
      kick_atom::value, user_, c.user);
}

void connection::on_add_member(request_ref id, wire::AddMember::Reader a) {
  auto change = validate_member_change(text(a.getGroupId()), text(a.getUserId()));
  if (!change) return reply_error(id, change.error());
  auto& c = *change;
  request(group::of(c.group), replier<group_info>(id, fill_group), error_replier(id),
          add_atom::value, user_, c.user);
}

void connection::on_logout(request_ref id) {
  reply_ok(id);
  close();
}

const char* to_string(login_refusal r) {
  static const char* const names[login_refusal_kinds] = {"bad_token", "expired",    "revoked",
                                                         "banned",    "device_cap", "other"};
  return names[static_cast<std::size_t>(r)];
}

namespace {

login_refusal refusal_of(const error& why) {
  switch (to_wire(why).code) {
    case wire::ErrorCode::TOKEN_INVALID:
      return login_refusal::bad_token;
    case wire::ErrorCode::TOKEN_EXPIRED:
      return login_refusal::expired;
    case wire::ErrorCode::TOKEN_REVOKED:
      return login_refusal::revoked;
    case wire::ErrorCode::BANNED:
      return login_refusal::banned;
    case wire::ErrorCode::LIMIT_EXCEEDED:
      return login_refusal::device_cap;
    default:
      return login_refusal::other;
  }
}

}  // namespace

/// Answers a refused login, counts it by reason and logs it (rate-limited: a client can cause
/// it).
void connection::refuse_login(request_ref id, const error& why, const std::string& user) {
  const auto reason = refusal_of(why);
  svc_.counters->logins_refused[static_cast<std::size_t>(reason)].fetch_add(
      1, std::memory_order_relaxed);
  log::write_limited(
      log::level::info, "login_refused",
      {{"peer", peer()}, {"user", user}, {"reason", to_string(reason)}, {"detail", why.message()}});
  reply_error(id, why);
}

std::string connection::peer() const {
  return sink_ ? sink_->peer() : std::string();
}

void connection::kick(wire::KickReason reason, const std::string& detail) {
  log::debug("kicked", {{"peer", peer()},
                        {"user", user_},
                        {"device", device_},
                        {"reason", std::to_string(static_cast<int>(reason))},
                        {"detail", detail}});
  write([&](wire::ServerFrame::Builder f) {
    f.setRequestId(0);
    auto k = f.initKicked();
    k.setReason(reason);
    k.setDetail(detail);
  });
  close();
}

void connection::close() {
  if (closing_) return;
  closing_ = true;
  if (sink_) sink_->close();
}

/// A deadline the transport watches passed (reason: a wire::KickReason value).
void connection::on_timeout(std::uint16_t reason) {
  const auto why = static_cast<wire::KickReason>(reason);
  if (closing_ || (why == wire::KickReason::LOGIN_TIMEOUT && logged_in_)) {
    return;  // a login that just succeeded wins
  }
  switch (why) {
    case wire::KickReason::LOGIN_TIMEOUT:
      return kick(why, "no login within the login timeout");
    case wire::KickReason::TOKEN_EXPIRED:
      return kick(why, "the login token expired; log in again with a fresh token");
    case wire::KickReason::FRAME_TIMEOUT:
      return kick(why, "a frame was not completed within the frame timeout");
    default:
      return kick(wire::KickReason::HEARTBEAT_TIMEOUT, "no frame within the heartbeat timeout");
  }
}

// -- session --------------------------------------------------------------------------------------

void connection::on_kicked(wire::KickReason reason, const std::string& detail) {
  logged_in_ = false;  // the presence actor has already dropped this session
  kick(reason, detail);
}

connection::connection(connection_hub& hub, std::uint64_t id, sink_ptr sink,
                       std::uint64_t opened_ns)
    : hub_(hub), svc_(hub.svc()), id_(id), opened_ns_(opened_ns), sink_(std::move(sink)) {
  svc_.counters->connections.fetch_add(1, std::memory_order_relaxed);
}

connection::~connection() {
  svc_.counters->connections.fetch_sub(1, std::memory_order_relaxed);
}

void connection::on_bad_stream(errc code) {
  svc_.counters->bad_frames.fetch_add(1, std::memory_order_relaxed);
  const std::size_t limit = logged_in_ ? svc_.options.frames.max_frame_bytes
                                       : std::min(svc_.options.frames.max_frame_bytes,
                                                  svc_.options.max_unauthenticated_frame_bytes);
  write_error(0, {code, code == errc::frame_too_large
                            ? "frame exceeds " + std::to_string(limit) +
                                  (logged_in_ ? " bytes; closing" : " bytes before login; closing")
                            : "unreadable frame header; closing"});
  kick(wire::KickReason::PROTOCOL_ERROR, "the stream cannot continue");
}

void connection::log_in(request_ref request_id) {
  request(
      presence::of_user(svc_, user_),
      [this, request_id](std::uint64_t inbox_head) {
        login_pending_ = false;
        logged_in_ = true;
        sink_->authenticated(expires_unix_s_);
        watch_presence();
        svc_.counters->logins.fetch_add(1, std::memory_order_relaxed);
        log::debug("login", {{"peer", peer()}, {"user", user_}, {"device", device_}});
        reply(request_id, [&](wire::Result::Builder r) { fill_login(r, user_, inbox_head); });
      },
      [this, request_id](caf::error& err) {
        login_pending_ = false;
        refuse_login(request_id, from_caf(err), user_);
      },
      login_atom::value, who(), caf::actor_cast<caf::actor>(&hub_), id_);
}

login_spec connection::who() const {
  return {user_, device_, device_type_, token_issued_us_, svc_.router->self(), opened_ns_};
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
  request(
      presence::of_user(svc_, user_),
      [this](std::uint64_t) {
        watch_presence();
        // Pushes sent while the session was not attached anywhere were dropped: the client
        // pulls from its cursors (the messages themselves are all stored).
        write([](wire::ServerFrame::Builder f) {
          f.setRequestId(0);
          f.setResync();
        });
      },
      [this, attempt](caf::error& err) {
        // Revoked or banned while the session was moving: it ends as a kick would have.
        const error refused = from_caf(err);
        if (refused.is(errc::banned)) return kick(wire::KickReason::BANNED, refused.message());
        if (refused.is(errc::token_revoked)) {
          return kick(wire::KickReason::TOKEN_REVOKED, refused.message());
        }
        if (attempt + 1 >= svc_.options.max_reattach_attempts) {
          return kick(wire::KickReason::SESSION_LOST,
                      "the node holding this session did not come back; reconnect later");
        }
        hub_.delayed_send(
            &hub_, std::chrono::milliseconds(std::min<std::uint32_t>(20 * (attempt + 1), 200)),
            reattach_atom::value, id_, attempt + 1);
      },
      login_atom::value, who(), caf::actor_cast<caf::actor>(&hub_), id_);
}

void connection::on_closed() {
  // A login still in flight attaches a session too: the logout follows it to the same actor,
  // in order (same sender, same route), and removes it.
  if (logged_in_ || login_pending_) {
    tell_if_active(svc_, presence::of_user(svc_, user_), logout_atom::value, user_, device_,
                   hub_.address(), id_);
  }
  if (presence_) hub_.unwatch(presence_, id_);
  presence_ = nullptr;
  refund_quota();
  logged_in_ = false;
  closing_ = true;
  if (sink_) sink_->close();
  sink_.reset();
}

void connection::on_internal_error(const char* what) {
  log::error("connection_failed",
             {{"peer", peer()}, {"user", user_}, {"detail", what}, {"action", "closed"}});
  write_error(0, {errc::internal, "internal error"});
  kick(wire::KickReason::PROTOCOL_ERROR, "the server could not handle a frame");
}

}  // namespace parley::actors
