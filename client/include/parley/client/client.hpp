#pragma once
// The C++ client library: one blocking connection to a Parley node over TCP or TLS, used by
// imctl chat, the examples, the tests and the load generator.
//
// Requests block until their Result arrives (or a timeout); several threads may issue requests
// on one connection at once. A reader thread decodes every ServerFrame: Results wake their
// caller, pushes (messages, inbox events, kicked) go to a queue read with next_push().
// catch_up() implements the client side of the delivery contract: sync the inbox from a
// cursor, then pull every known conversation from its cursor.

#include "client.capnp.h"
#include "parley/schema/error.hpp"
#include "parley/schema/ids.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace parley::client {

using wire::ErrorCode;

// Conversation ids, built by the same rules as the node's (schema/ids.hpp).
using schema::dm_conversation;
using schema::group_conversation;

/// A message as clients see it.
struct message {
  std::string conversation;
  std::uint64_t seq = 0;
  std::string sender;
  std::string sender_device;
  std::string client_msg_id;
  std::uint64_t timestamp_ms = 0;
  std::uint32_t content_type = 0;
  std::string body;
  std::vector<std::string> mentions;
  /// A message (normal), or an edit, recall or delete of the message `target`.
  wire::MessageKind kind = wire::MessageKind::NORMAL;
  std::uint64_t target = 0;
  /// Of a message: intact, or edited / recalled / deleted since (then body is the newest).
  wire::MessageState state = wire::MessageState::INTACT;
  std::uint64_t changed_at_seq = 0;  ///< The entry that last changed it.
  std::vector<std::uint64_t> edits;  ///< Seqs of its edit entries.
  bool mentions_all = false;         ///< @all
  std::uint64_t number = 0;          ///< Messages (kind normal) up to and including it.
};

/// One entry of the user's conversation list.
struct conversation_entry {
  std::string conversation;
  std::uint64_t last_seq = 0;
  std::uint64_t last_activity_ms = 0;
  std::optional<message> last_message;
  std::uint64_t read_seq = 0;
  std::uint32_t unread = 0;
  std::uint32_t unread_mentions = 0;
  bool muted = false;
  bool pinned = false;
  std::uint64_t retention_seconds = 0;  ///< Older messages are deleted (0: kept).
};

/// A user's presence as others see it.
struct presence_info {
  std::string user;
  wire::PresenceStatus status = wire::PresenceStatus::OFFLINE;
  std::uint64_t last_seen_ms = 0;  ///< Offline: when its last device left (0: unknown).
};

/// A profile field and who sees it.
struct profile_field {
  std::string key;
  std::string value;
  wire::Visibility visibility = wire::Visibility::EVERYONE;
};

/// A user's profile (as the asking user may see it, in answers).
struct profile {
  std::string user;
  std::string display_name;
  wire::Visibility display_name_visibility = wire::Visibility::EVERYONE;
  std::string avatar_url;
  wire::Visibility avatar_visibility = wire::Visibility::EVERYONE;
  std::vector<profile_field> fields;
  std::uint64_t updated_ms = 0;
};

/// A group's profile and settings.
struct group_profile {
  std::string group_id;
  std::string name;
  std::string avatar_url;
  std::string announcement;
  std::string owner;
  std::uint32_t members = 0;
  std::uint32_t max_members = 0;  ///< In answers: the limit in force; in updates: 0 = the node's.
  bool muted_all = false;
  wire::JoinPolicy join_policy = wire::JoinPolicy::INVITE_ONLY;
  bool share_history = false;
  std::uint64_t created_ms = 0;
  wire::GroupRole role = wire::GroupRole::MEMBER;  ///< The caller's.
};

/// A request to join a group, as its admins see it.
struct join_request {
  std::string user;
  std::string message;
  std::uint64_t requested_ms = 0;
};

/// One member of a group.
struct member_entry {
  std::string user;
  wire::GroupRole role = wire::GroupRole::MEMBER;
  std::uint64_t joined_ms = 0;
  std::uint64_t muted_until_ms = 0;
};

/// One online device of the user.
struct device_session {
  std::string device;
  wire::DeviceType type = wire::DeviceType::UNKNOWN;
  std::uint64_t since_ms = 0;
  bool current = false;  ///< The device that asked.
};

/// One participant's read position.
struct read_cursor {
  std::string user;
  std::uint64_t seq = 0;
};

/// An inbox event as clients see it.
struct inbox_event {
  std::uint64_t seq = 0;
  wire::InboxEventKind kind = wire::InboxEventKind::CONVERSATION_STARTED;
  std::string conversation;
  std::string group;
  std::string actor;
  std::uint64_t arg_seq = 0;
  std::uint64_t timestamp_ms = 0;
  wire::GroupRole role = wire::GroupRole::MEMBER;  ///< roleChanged: the new role
  std::string text;                                ///< relationChanged: the request's message
  wire::Relation relation = wire::Relation::NONE;  ///< relationChanged: the relation now
};

/// One of the user's relations (listRelations).
struct relation_entry {
  std::string user;
  wire::Relation relation = wire::Relation::NONE;
  std::string message;  ///< A pending request's message.
  std::uint64_t since_ms = 0;
  std::uint64_t expires_ms = 0;  ///< A pending request's lapse time.
};

/// The Result of one request; which payload fields are set depends on the request.
struct response {
  ErrorCode code = ErrorCode::OK;
  std::string error;  ///< Human-readable detail when !ok().
  bool ok() const { return code == ErrorCode::OK; }

  std::string user_id;                             ///< login
  std::uint64_t inbox_head = 0;                    ///< login
  std::string conversation;                        ///< send
  std::uint64_t seq = 0;                           ///< send
  std::uint64_t timestamp_ms = 0;                  ///< send
  std::vector<message> messages;                   ///< pull, history
  std::vector<inbox_event> events;                 ///< sync
  bool has_more = false;                           ///< pull, history, sync
  std::string group_id;                            ///< createGroup, joinGroup
  std::string group_name;                          ///< createGroup, joinGroup
  wire::GroupRole role = wire::GroupRole::MEMBER;  ///< createGroup, joinGroup, addMember
  wire::JoinPolicy join_policy = wire::JoinPolicy::INVITE_ONLY;  ///< group answers
  bool share_history = false;                                    ///< group answers
  bool pending = false;  ///< joinGroup of an approval group: the request waits for an admin
  std::vector<std::uint32_t> read_counts;          ///< readReceipts: readers per asked seq
  std::vector<read_cursor> cursors;                ///< readReceipts of a direct conversation
  wire::Relation relation = wire::Relation::NONE;  ///< friend and block requests
  std::vector<relation_entry> relations;           ///< listRelations
  std::vector<conversation_entry> conversations;   ///< listConversations
  std::string next_cursor;                         ///< listConversations
  std::vector<presence_info> presences;            ///< watchPresence
  std::vector<device_session> devices;             ///< listDevices
  std::vector<profile> profiles;                   ///< getProfiles
  group_profile group;                             ///< updateGroup, groupProfile
  std::vector<member_entry> members;               ///< listMembers
  std::vector<join_request> join_requests;         ///< listJoinRequests, oldest first
};

/// How a new group admits members and what they read.
struct group_options {
  /// inviteOnly (admins add members; the default) or open (anyone may join).
  wire::JoinPolicy join_policy = wire::JoinPolicy::INVITE_ONLY;
  /// New members read messages from before they joined. Default false.
  bool share_history = false;
};

/// Something the server sent without being asked.
struct push {
  /// resync: pushes may have been missed; call catch_up() (as after a reconnect).
  /// read: the other participant of a direct conversation read it up to `seq`.
  /// presence: a watched user's presence changed (`presence`).
  enum class kind {
    message,
    event,
    kicked,
    closed,
    resync,
    typing,
    read,
    presence
  } what = kind::closed;
  message msg;                                                 ///< kind::message
  inbox_event event;                                           ///< kind::event
  wire::KickReason reason = wire::KickReason::PROTOCOL_ERROR;  ///< kind::kicked
  std::string detail;                                          ///< kind::kicked
  std::string conversation;                                    ///< kind::typing, read: where
  std::string user;                                            ///< kind::typing, read: who
  std::uint64_t seq = 0;                                       ///< kind::read: up to here
  presence_info presence;                                      ///< kind::presence
};

/// Why a connection could not be made (category "client"). The server's answers are not
/// errors of this kind: a response carries the wire's ErrorCode.
enum class client_errc : std::uint8_t {
  bad_address = 1,  ///< The host is not an IP address.
  cannot_connect,   ///< Nothing accepted the connection (retriable).
  tls_failed,       ///< The TLS handshake failed (certificate, name, timeout).
};
const error_category& category_of(client_errc);

/// Options of a connection.
struct connect_options {
  std::chrono::milliseconds request_timeout{10000};  ///< Per request. Default 10 s.
  std::string bind_address;  ///< Local source address (load tests spread over 127.0.0.x).
  /// TLS (the node was started with a certificate). Off by default.
  bool tls = false;
  /// PEM file of the CA(s) the server's certificate must chain to; empty: the system's roots.
  std::string tls_ca_file;
  /// The name the certificate must carry; empty: the host connected to (an IP address is
  /// checked against the certificate's IP entries).
  std::string tls_server_name;
};

/// One client connection. Thread-safe. Destroying it closes the socket.
class connection {
 public:
  /// Connects; fails with a client error (bad_address, cannot_connect, tls_failed) or a tls
  /// error (an unusable CA file).
  static result<std::unique_ptr<connection>> connect(const std::string& host, std::uint16_t port,
                                                     connect_options opts = {});
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  response login(const std::string& token, const std::string& device,
                 wire::DeviceType type = wire::DeviceType::BOT);
  response send_to_user(const std::string& peer, const std::string& client_msg_id,
                        const std::string& body, std::uint32_t content_type = 0,
                        const std::vector<std::string>& mentions = {});
  /// `mention_all`: @all (admins and the owner only).
  response send_to_group(const std::string& group, const std::string& client_msg_id,
                         const std::string& body, std::uint32_t content_type = 0,
                         const std::vector<std::string>& mentions = {}, bool mention_all = false);
  response pull(const std::string& conversation, std::uint64_t after_seq, std::uint32_t limit = 0);
  response history_before_seq(const std::string& conversation, std::uint64_t before_seq,
                              std::uint32_t limit = 0);
  response history_before_time(const std::string& conversation, std::uint64_t before_ms,
                               std::uint32_t limit = 0);
  response sync(std::uint64_t after_seq, std::uint32_t limit = 0);
  response mark_read(const std::string& conversation, std::uint64_t seq);
  response create_group(const std::string& group_id, const std::string& name,
                        const group_options& options = {});
  /// Adds `user` to a group (owner or admin only).
  response add_member(const std::string& group_id, const std::string& user);
  response join_group(const std::string& group_id);
  response leave_group(const std::string& group_id);
  response kick_member(const std::string& group_id, const std::string& user);
  response heartbeat();
  /// Tells the other participants of `conversation` that this user is typing (rate-limited by
  /// the server: 2 a second).
  response typing(const std::string& conversation);
  /// Replaces the content of one's own message `seq` (answer: the edit entry's seq).
  response edit(const std::string& conversation, std::uint64_t seq,
                const std::string& client_msg_id, const std::string& body,
                std::uint32_t content_type = 0);
  /// Recalls message `seq`: one's own within the recall window, any as a group admin.
  response recall(const std::string& conversation, std::uint64_t seq,
                  const std::string& client_msg_id);
  /// Deletes message `seq` for everyone: one's own, any as a group admin.
  response delete_for_everyone(const std::string& conversation, std::uint64_t seq,
                               const std::string& client_msg_id);
  /// Hides message `seq` from this user's devices (an inbox event messageHidden).
  response delete_for_me(const std::string& conversation, std::uint64_t seq);
  /// How many others read each of `seqs`, and a direct conversation's read cursors.
  response read_receipts(const std::string& conversation, const std::vector<std::uint64_t>& seqs);
  /// Asks `user` to be friends (or accepts their request if they asked first). Answer: relation.
  response request_friend(const std::string& user, const std::string& message = {});
  /// Accepts (or declines) `user`'s friend request. Answer: relation.
  response answer_friend(const std::string& user, bool accept);
  response cancel_friend_request(const std::string& user);
  response remove_friend(const std::string& user);
  response block(const std::string& user);
  response unblock(const std::string& user);
  /// The user's relations (none: all) after `after_user`, by user id.
  response list_relations(wire::Relation only = wire::Relation::NONE,
                          const std::string& after_user = {}, std::uint32_t limit = 0);
  /// One page of the user's conversation list ("" for the first; then the answer's
  /// next_cursor): pinned first, then by last activity.
  response list_conversations(const std::string& cursor = {}, std::uint32_t limit = 0);
  /// Mutes or pins one of the user's conversations (for all its devices).
  response set_conversation_flags(const std::string& conversation, bool muted, bool pinned);
  /// The user's own status: online, away, busy or invisible (kept across logins).
  response set_presence(wire::PresenceStatus status);
  /// Watches `users` (an hour; renew) or stops watching: their presence now in `presences`,
  /// then a kind::presence push on each change.
  response watch_presence(const std::vector<std::string>& users, bool watch = true);
  /// The user's online devices, oldest login first.
  response list_devices();
  /// Ends the session of another of the user's devices (Kicked loggedOutByUser).
  response logout_device(const std::string& device);
  /// Replaces the user's profile (p.user and p.updated_ms are set by the server).
  response set_profile(const profile& p);
  /// Profiles of up to 100 users, as this user may see them, in the order asked.
  response get_profiles(const std::vector<std::string>& users);
  /// Replaces a group's name, avatar, announcement, member limit and mute-all (admins).
  response update_group(const group_profile& g);
  /// Mutes a plain member until `until_ms` (0 lifts it; admins).
  response mute_member(const std::string& group_id, const std::string& user,
                       std::uint64_t until_ms);
  /// The group's profile (members only).
  response get_group_profile(const std::string& group_id);
  /// A page of the group's members by id after `after_user` (members only).
  response list_members(const std::string& group_id, const std::string& after_user = {},
                        std::uint32_t limit = 0);
  /// Asks to join an approval group with a message (answer: pending); joins an open one.
  response ask_to_join(const std::string& group_id, const std::string& message);
  /// Makes a member an admin or a plain member (the owner).
  response set_member_role(const std::string& group_id, const std::string& user,
                           wire::GroupRole role);
  /// Hands the group to a member; the caller becomes an admin (the owner).
  response transfer_group(const std::string& group_id, const std::string& new_owner);
  /// Ends the group for every member (the owner).
  response dismiss_group(const std::string& group_id);
  /// Accepts or declines `user`'s request to join (admins).
  response answer_join_request(const std::string& group_id, const std::string& user, bool accept);
  /// The pending requests to join, oldest first (admins).
  response list_join_requests(const std::string& group_id);
  /// Invites `user` (admins; any member of an open group).
  response invite_to_group(const std::string& group_id, const std::string& user,
                           const std::string& message = {});
  /// Joins (accept) or declines a group one was invited to.
  response answer_group_invite(const std::string& group_id, bool accept);
  /// Messages of `conversation` older than `seconds` are deleted (0: kept; a direct
  /// conversation's users, a group's admins).
  response set_retention(const std::string& conversation, std::uint64_t seconds);
  response logout();

  /// Sends any ClientFrame built by `fill` (its request id is set here) and waits.
  response call(const std::function<void(wire::ClientFrame::Builder)>& fill);

  /// Writes raw bytes (tests of malformed input).
  void send_raw(const void* data, std::size_t len);
  /// Waits for a Result with request id 0 (the server's answer to an unreadable frame);
  /// nullopt on timeout, or at once once the connection is closed and none is left.
  std::optional<response> next_unsolicited(std::chrono::milliseconds timeout);
  /// Waits for the next push; nullopt on timeout. A kind::closed push reports the socket closed.
  std::optional<push> next_push(std::chrono::milliseconds timeout);
  /// Whether the server has closed the connection.
  bool closed() const;

 private:
  struct impl;
  explicit connection(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// A device's position in everything it has seen, for catch-up and push dedupe.
struct sync_state {
  std::uint64_t inbox_cursor = 0;                      ///< Highest inbox seq seen.
  std::map<std::string, std::uint64_t> conversations;  ///< Conversation -> highest seq seen.

  /// Records a pushed message. Returns false for a duplicate (seq already seen). A message
  /// beyond the next seq means a push was missed: call catch_up().
  bool accept(const message& m);
  /// Records an inbox event (adds conversations the user joined, drops ones it left).
  void accept(const inbox_event& e);
};

/// Syncs the inbox from state.inbox_cursor, then reads the conversation list and pulls each
/// conversation whose last seq is past the device's cursor (and only those). Returns the new
/// messages, in conversation then seq order, or the failed response.
std::variant<std::vector<message>, response> catch_up(connection& c, sync_state& state);

/// Every message of `conversation` after `after_seq`, paging forward; or the failed response.
std::variant<std::vector<message>, response> pull_all(connection& c,
                                                      const std::string& conversation,
                                                      std::uint64_t after_seq = 0);

/// Whether sending the same request again later can succeed (the shard is moving or down,
/// a timeout, a transient server error).
bool retriable(ErrorCode code);

/// Sends a direct message, resending it with the same client message id while the answer is
/// retriable (sends are idempotent), up to `attempts` times with a short pause between;
/// `on_resend` (if given) runs before each resend.
response send_until_acked(connection& c, const std::string& peer, const std::string& client_msg_id,
                          const std::string& body, int attempts = 1000,
                          const std::function<void()>& on_resend = {});

/// Short name of an error code ("notMember").
std::string to_string(ErrorCode code);

}  // namespace parley::client
