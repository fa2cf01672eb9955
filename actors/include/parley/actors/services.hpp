#pragma once
// What entity actors and connection hubs need from their node: storage, routing, commit, tokens and
// options. The node owns every member and outlives all actors; actors keep a plain pointer.

#include "parley/runtime/metric_histogram.hpp"
#include "parley/runtime/rate_limit.hpp"
#include "parley/schema/framing.hpp"

#include <caf/actor.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace caf {
class actor_system;
}
namespace parley::store {
class store;
}
namespace parley::runtime {
class router;
class group_committer;
class token_authority;
}  // namespace parley::runtime

namespace parley::actors {

class hook_table;

/// Tunables of entity actors and connections. Plain struct; validated in cli/.
struct actor_options {
  /// An entity actor with no message for this long passivates (unless it has sessions or
  /// writes in flight). Shorter saves memory, longer saves reloads. Default 60 s.
  std::chrono::milliseconds idle_timeout{60000};
  /// Largest page a pull, history or sync returns; bigger limits are capped. Default 200.
  std::uint32_t max_page = 200;
  /// Most record bytes in one page: a page ends before the record that would pass this (it
  /// always holds at least one), so a page of large messages stays well under the 1 MiB frame
  /// limit of clients. Default 512 KiB.
  std::size_t max_page_bytes = 512 * 1024;
  /// Page size when a request asks for 0. Default 50.
  std::uint32_t default_page = 50;
  /// A connection that sends nothing (not even a heartbeat) for this long is closed.
  /// Default 90 s.
  std::chrono::milliseconds heartbeat_timeout{90000};
  /// How many times (20-200 ms apart) a connection tries to re-register its session after the
  /// presence actor holding it went away, before it gives up with Kicked(sessionLost).
  /// Default 100 (about 20 s: a shard move or a node restart fits in it).
  std::uint32_t max_reattach_attempts = 100;
  /// A connection must log in within this time. Default 10 s.
  std::chrono::milliseconds login_timeout{10000};
  /// A frame whose first byte arrived must be complete within this time (a client dribbling a
  /// large frame byte by byte is cut). Default 30 s.
  std::chrono::milliseconds frame_timeout{30000};
  /// How long an actor waits for another actor's answer; 0 = no timeout. A local entity always
  /// answers or fails with "receiver down", and every client has its own timeout, so the
  /// default is none: each timed request costs an entry in CAF's shared clock (~3% of a core
  /// at 12 k msg/s, measured with perf). Default 0.
  std::chrono::milliseconds request_timeout{0};
  /// How long an actor waits for an entity on another node. Not optional: a request in flight
  /// to a node that dies is never answered by CAF. Expiry is reported as `unavailable`.
  /// Default 5 s.
  std::chrono::milliseconds remote_request_timeout{5000};
  /// Limits for frames read from clients.
  schema::frame_limits frames;
  /// Largest frame a connection may send before it has logged in (a login frame is small):
  /// an anonymous socket cannot make the node buffer a megabyte. Default 8 KiB.
  std::size_t max_unauthenticated_frame_bytes = 8 * 1024;
  /// Largest message body accepted, bytes. Default 64 KiB.
  std::size_t max_body_bytes = 64 * 1024;
  /// How long after sending a sender may recall a message (group admins always may).
  /// Default 2 minutes.
  std::chrono::milliseconds recall_window{120000};
  /// Edits one message may have; one more gets `limitExceeded`. Default 50.
  std::uint32_t max_edits_per_message = 50;
  /// Direct messages (and typing notices) only between friends; else between any two users
  /// who have not blocked each other. Set the same on every node. Default open.
  bool friends_only_direct_messages = false;
  /// A friend request not answered in this time lapses. Default 7 days.
  std::chrono::milliseconds friend_request_ttl{7LL * 24 * 3600 * 1000};
  /// An invitation to a group not answered in this time lapses. Default 7 days.
  std::chrono::milliseconds group_invite_ttl{7LL * 24 * 3600 * 1000};
  /// Pending requests to join, and pending invitations, one group keeps (each); one more gets
  /// `limitExceeded` until some are answered. Default 1,000.
  std::size_t max_pending_per_group = 1000;
  /// How often each node visits the conversations of its shards that have a time to live
  /// (setRetention) and deletes their expired messages. Default a minute.
  std::chrono::milliseconds retention_sweep_interval{60000};
  /// Relations (friends, pending requests, blocks) one user may have; one more gets
  /// `limitExceeded`. Default 5,000.
  std::size_t max_relations_per_user = 5000;
  /// Requests one user may make over all its connections to this node (heartbeats are free);
  /// more get the retriable `rateLimited`. Default 1000/s, burst 2000. (Across nodes the
  /// session cap bounds the sum; one connection's rate is the gateway's, which throttles.)
  runtime::rate_limit user_rate{1000, 2000};
  /// Users whose request rate a node remembers at once. Default 100,000.
  std::size_t max_rate_limited_users = 100000;
  /// Sessions (online devices) one user may have on its presence actor; one more login gets
  /// `limitExceeded`. Default 10.
  std::size_t max_sessions_per_user = 10;
  /// Sessions one user may have per kind of device (0: no cap but max_sessions_per_user): a
  /// login of a new device beyond its kind's cap ends the oldest session of that kind
  /// (Kicked loggedInElsewhere). Mobile is ios and android. Defaults: one mobile, one
  /// desktop, any number of web and other sessions.
  std::size_t max_mobile_sessions = 1;
  std::size_t max_desktop_sessions = 1;
  std::size_t max_web_sessions = 0;
  /// Members a group may have; adding or joining beyond it gets `limitExceeded`.
  /// Default 10,000.
  std::size_t max_group_members = 10000;
  /// Groups one user may be a member of; creating, joining or being added beyond it gets
  /// `limitExceeded`. Checked before the membership is written, so concurrent joins can pass
  /// it by a few. Default 1,000.
  std::size_t max_groups_per_user = 1000;
  /// Bytes of message bodies one user may store over its lifetime (0: no cap); a send beyond
  /// it gets `limitExceeded`. Connections lease it from the user actor in chunks of
  /// stored_bytes_lease, so most sends do not ask; a node that crashes loses the unspent part
  /// of its leases (counted as stored). Default 4 GiB.
  std::uint64_t max_stored_bytes_per_user = std::uint64_t{4} << 30;
  /// See max_stored_bytes_per_user. Default 256 KiB.
  std::uint64_t stored_bytes_lease = 256 * 1024;
};

/// Why a login was refused, as counted in node_counters::logins_refused.
enum class login_refusal : std::uint8_t {
  bad_token,   ///< tokenInvalid (malformed, forged, wrong device type)
  expired,     ///< tokenExpired
  revoked,     ///< tokenRevoked
  banned,      ///< banned
  device_cap,  ///< limitExceeded (too many devices online)
  other,       ///< anything else (a storage failure, a shard moving)
};
constexpr std::size_t login_refusal_kinds = 6;
/// The metric label of `r` ("bad_token").
const char* to_string(login_refusal r);

/// Counters shown by stats and benchmarks; updated with relaxed atomics.
struct node_counters {
  std::atomic<std::uint64_t> messages_sent{0};     ///< Messages newly appended to a log.
  std::atomic<std::uint64_t> messages_expired{0};  ///< Entries deleted by retention.
  std::atomic<std::uint64_t> pushes{0};            ///< Pushes handed to connections.
  std::atomic<std::uint64_t> connections{0};       ///< Connections currently open.
  std::atomic<std::uint64_t> logins{0};            ///< Successful logins since start.
  std::atomic<std::uint64_t> bad_frames{0};        ///< Frames answered with an error.
  std::array<std::atomic<std::uint64_t>, login_refusal_kinds> logins_refused{};  ///< By reason.
  /// From a connection handling a send to its ack (the durable append included), in µs.
  runtime::latency_histogram send_ack_us;
};

/// The node's services as seen by actors. All pointers are non-null and outlive the actors.
struct services {
  caf::actor_system* system = nullptr;
  store::store* db = nullptr;
  runtime::router* router = nullptr;
  runtime::group_committer* committer = nullptr;
  const runtime::token_authority* tokens = nullptr;
  runtime::keyed_rate_limiter* user_rates = nullptr;
  actor_options options;
  node_counters* counters = nullptr;
  /// The app's hooks in force on this node (hooks.hpp).
  hook_table* hooks = nullptr;
  /// The gates of the other nodes reachable now, for what the app layer spreads between nodes
  /// (hook installs); unset on a single node.
  std::function<std::vector<caf::actor>()> peer_gates;
  /// Tests only: called where a handler runs (an entity's id before it handles a message;
  /// "reply/<user>" before a connection's continuation); a throw from it is a handler's throw.
  std::function<void(const std::string& where)> inject_fault;
};

}  // namespace parley::actors
