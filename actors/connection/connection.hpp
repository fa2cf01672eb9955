#pragma once
// One client session: its state machine (logged out, login pending, logged in, closing), its
// request handlers and its storage-quota lease. Owned by its hub (hub.hpp), which runs all of
// its handlers and continuations, so a connection sees one message at a time.
//
//   logged out --Login--> login pending --presence answers--> logged in --close/kick--> closing
//                              \--refused--> logged out            \--Login (refresh)--/
//
// Every request gets exactly one Result with its request id; pushes carry request id 0. Input
// is validated before anything reaches an entity (validation.hpp), answers are encoded by
// replies.hpp, and requests go to entities through their typed handles (route.hpp), as the
// hub: the answers come back to the hub, which runs the continuation only if the connection
// is still open (ids are never reused, so an answer cannot reach a later connection).

#include "parley/actors/connection.hpp"
#include "parley/actors/validation.hpp"

#include "common/route.hpp"
#include "connection/replies.hpp"
#include "conversation/conversation.hpp"

#include <caf/actor_addr.hpp>
#include <caf/detail/type_traits.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace parley::actors {

class connection_hub;

/// The request a reply answers: its client-chosen id, and the size of its frame (given back to
/// the transport's in-flight budget when the answer is written).
struct request_ref {
  std::uint64_t id = 0;
  std::uint32_t bytes = 0;
  std::chrono::steady_clock::time_point received{};  ///< When the connection took the frame.
};

/// A continuation that runs only while connection `id` is open in `hub`. Its call operator has
/// the exact parameters of F, so CAF can match the answer's types against it (hub.hpp).
template <class F, class Args = typename caf::detail::get_callable_trait<F>::arg_types>
struct while_open;

template <class F, class... Ts>
struct while_open<F, caf::detail::type_list<Ts...>> {
  connection_hub* hub;
  std::uint64_t id;
  F f;
  void operator()(Ts... xs) const;
};

class connection {
 public:
  /// `opened_ns`: when the transport accepted the socket (steady clock, ns).
  connection(connection_hub& hub, std::uint64_t id, sink_ptr sink, std::uint64_t opened_ns);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // -- what the hub hands over ------------------------------------------------------------------

  /// A complete frame from the transport.
  void on_frame(const schema::frame_words& words);
  /// The stream cannot be read any further (oversized or unreadable frame header).
  void on_bad_stream(errc code);
  /// A deadline the transport watches passed (reason: a wire::KickReason value).
  void on_timeout(std::uint16_t reason);
  /// A push frame the hub encoded once for all its recipients.
  void push(const schema::shared_frame& frame) {
    if (logged_in_ && sink_) sink_->send(frame);
  }
  /// The presence actor ended this session (another login of the device, the app, ...).
  void on_kicked(wire::KickReason reason, const std::string& detail);
  /// The presence actor holding our session went away (its shard moved or its node failed).
  void on_presence_down();
  /// Another attempt to attach the session again after on_presence_down().
  void reattach(std::uint32_t attempt);
  /// The socket is closed: detach from the user. The hub forgets the connection next.
  void on_closed();
  /// A handler threw: tell the client and close (the hub and its other connections go on).
  void on_internal_error(const char* what);
  /// The node is stopping: tell the client why, then close.
  void on_node_stopping() { kick(wire::KickReason::SERVER_SHUTDOWN, "the node is stopping"); }
  /// The logged-in user ("" before login).
  const std::string& user() const { return user_; }

 private:
  // -- frames out -------------------------------------------------------------------------------

  template <class Fill>
  void write(Fill&& fill);
  /// Answers request `id` with OK and what `fill` puts in the Result: exactly once per
  /// request, which also gives its frame's bytes back to the transport's back-pressure.
  template <class Fill>
  void reply(request_ref id, Fill&& fill);
  void reply_ok(request_ref id);
  /// Answers request `id` with `err` as the wire has it (to_wire: only request errors keep
  /// their message).
  void reply_error(request_ref id, const error& err);
  void reply_error(request_ref id, errc code, std::string message) {
    reply_error(id, error(code, std::move(message)));
  }
  /// An error Result for `request_id`; 0 answers no request: the stream itself failed.
  void write_error(std::uint64_t request_id, const error& err);
  /// Continuations answering `id` with an entity's error, or with its reply encoded by `fill`.
  auto error_replier(request_ref id) {
    return [this, id](caf::error& err) { reply_error(id, from_caf(err)); };
  }
  template <class T, class Fill>
  auto replier(request_ref id, Fill fill) {
    return [this, id, fill](T& answer) {
      reply(id, [&](wire::Result::Builder r) { fill(r, answer); });
    };
  }

  // -- requests ---------------------------------------------------------------------------------

  /// Whether this request fits the user's rate (heartbeats are free). The connection's own
  /// rate is the gateway's: it reads the socket no faster.
  bool within_rate(const wire::ClientFrame::Reader& frame);
  void dispatch(request_ref id, wire::ClientFrame::Reader frame);
  /// A login, or on a logged-in connection a refresh: the same user and device with a new
  /// token, which extends the session to the new token's expiry.
  void on_login(request_ref id, wire::Login::Reader login);
  void on_send(request_ref id, wire::Send::Reader s);
  void on_pull(request_ref id, wire::Pull::Reader p);
  void on_history(request_ref id, wire::History::Reader h);
  void on_sync(request_ref id, wire::Sync::Reader s);
  /// Moves the read cursor at the conversation (through the group, which checks membership;
  /// a seq past the end is refused: it would hide later messages), which tells the peer of a
  /// direct conversation, then at the user (whose other devices sync it).
  void on_mark_read(request_ref id, wire::MarkRead::Reader m);
  /// Edit, recall and delete for everyone go to the conversation (through the group) as
  /// sends of a change, within the storage quota; delete for me is an inbox event of the user,
  /// for a seq the conversation has.
  void on_change_message(request_ref id, wire::ChangeMessage::Reader c);
  void on_read_receipts(request_ref id, wire::ReadReceipts::Reader r);
  /// Friend and block requests: to the user's own actor, which settles them with the other's.
  void on_relate(request_ref id, relation_op op, const std::string& other,
                 const std::string& message = {});
  void on_list_relations(request_ref id, wire::ListRelations::Reader l);
  void on_list_conversations(request_ref id, wire::ListConversations::Reader l);
  void on_set_conversation_flags(request_ref id, wire::ConversationFlags::Reader f);
  void on_set_presence(request_ref id, wire::SetPresence::Reader p);
  void on_list_devices(request_ref id);
  void on_set_profile(request_ref id, wire::Profile::Reader p);
  void on_update_group(request_ref id, wire::UpdateGroup::Reader u);
  void on_mute_member(request_ref id, wire::MuteMember::Reader m);
  void on_group_profile(request_ref id, wire::GroupRef::Reader g);
  void on_list_members(request_ref id, wire::ListMembers::Reader l);
  /// Asks each user's actor for its profile as this user may see it (at most 100 at once).
  void on_get_profiles(request_ref id, capnp::List<capnp::Text>::Reader users);
  void on_logout_device(request_ref id, const std::string& device);
  /// Asks the presence actor of each shard of the users listed (one request per shard) and
  /// answers once all have.
  void on_watch_presence(request_ref id, wire::WatchPresence::Reader w);
  void on_create_group(request_ref id, wire::CreateGroup::Reader c);
  void on_join_group(request_ref id, wire::GroupRef::Reader g);
  void on_leave_group(request_ref id, wire::GroupRef::Reader g);
  void on_kick_member(request_ref id, wire::KickMember::Reader k);
  void on_add_member(request_ref id, wire::AddMember::Reader a);
  void on_set_member_role(request_ref id, wire::SetMemberRole::Reader r);
  void on_transfer_group(request_ref id, wire::MemberRef::Reader m);
  void on_dismiss_group(request_ref id, wire::GroupRef::Reader g);
  void on_answer_join_request(request_ref id, wire::JoinAnswer::Reader a);
  void on_list_join_requests(request_ref id, wire::GroupRef::Reader g);
  void on_invite_to_group(request_ref id, wire::GroupInvite::Reader i);
  void on_answer_group_invite(request_ref id, wire::InviteAnswer::Reader a);
  void on_set_retention(request_ref id, wire::Retention::Reader r);
  void on_logout(request_ref id);
  /// Tells the other participants (their online sessions) that the user is typing: a direct
  /// conversation's peer through its presence actor, a group's members through the group
  /// (which checks membership). Nothing is stored; at most typing_rate per connection.
  void on_typing(request_ref id, wire::Typing::Reader t);

  /// Sends a request to `entity` as the hub; the continuations run while we are open.
  template <class Interface, class OnOk, class OnError, class... Ts>
  void request(const entity_handle<Interface>& entity, OnOk on_ok, OnError on_error,
               const Ts&... xs);

  // -- storage quota ----------------------------------------------------------------------------

  /// A validated send waiting for its bytes of the user's storage quota.
  struct quota_waiter {
    request_ref id;
    entity_handle<conversation_log> entity;
    send_request r;
  };
  /// Spends the body's bytes of the quota this connection leased from its user actor, then
  /// forwards the send; asks for more when the lease runs out. Later sends wait behind one
  /// that waits, so pipelined sends still reach their conversations in the order sent.
  void send_within_quota(request_ref id, entity_handle<conversation_log> entity, send_request r);
  void forward_send(request_ref id, const entity_handle<conversation_log>& entity, send_request r);
  void ask_quota();
  void release_quota_waiters();
  /// Gives the unspent lease back to the user actor (closing).
  void refund_quota();

  // -- session ----------------------------------------------------------------------------------

  /// Logs in at the presence actor of our user: our hub and our id in it are the session.
  void log_in(request_ref request_id);
  /// What this connection's login tells its presence actor.
  login_spec who() const;
  /// Watches the presence actor that just answered (local, or a proxy of a remote one).
  void watch_presence();
  void refuse_login(request_ref id, const error& why, const std::string& user);
  /// The client's address, for the logs.
  std::string peer() const;
  /// Tells the client why (a Kicked frame), then closes.
  void kick(wire::KickReason reason, const std::string& detail);
  /// Closes once what is queued is written.
  void close();

  connection_hub& hub_;
  services& svc_;
  const std::uint64_t id_;
  const std::uint64_t opened_ns_;
  sink_ptr sink_;
  std::string user_;
  std::string device_;
  std::uint16_t device_type_ = 0;
  std::uint64_t expires_unix_s_ = 0;   ///< Of the token of the last (pending) login.
  std::uint64_t token_issued_us_ = 0;  ///< Of the same token (0: a v1 token).
  caf::actor_addr presence_;      ///< The presence actor holding our session (watched by the hub).
  std::uint64_t quota_left_ = 0;  ///< Storage quota leased from the user actor, unspent.
  bool quota_asked_ = false;      ///< A lease request is outstanding.
  // A vector: an empty std::deque allocates ~600 bytes, which every idle connection paid.
  std::vector<quota_waiter> quota_waiting_;
  runtime::token_bucket typing_bucket_;
  bool logged_in_ = false;
  bool login_pending_ = false;
  bool closing_ = false;
};

}  // namespace parley::actors
