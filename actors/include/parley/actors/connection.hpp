#pragma once
// Client connections: one connection hub actor per CAF worker, holding many connections.
//
// A connection decodes ClientFrames, enforces login (token check) and input limits, forwards
// typed requests to the entity actors through the router, and writes their answers and the
// user's pushes back as ServerFrames. It never moves: entity actors may live anywhere.
//
// Why hubs and not one actor per connection: a CAF 0.17 actor costs ~1.6 KB with its behavior
// (event_based_actor alone is 1016 bytes), a third of what an idle authenticated connection
// cost in all (docs/benchmarks.md). A connection is a plain object of a few hundred bytes in its
// hub's table, addressed as (hub, connection id); the hub runs every connection's handlers
// and continuations, so a connection still sees one message at a time.
//
// The transport (TCP now, WebSocket later) stays outside: it hands complete frames to the hub
// and writes what a connection gives it through a connection_sink.

#include "parley/actors/services.hpp"
#include "parley/schema/error.hpp"
#include "parley/schema/framing.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace parley::actors {

/// The transport side of one connection. Implementations are thread-safe: connections call
/// them from CAF worker threads.
class connection_sink {
 public:
  virtual ~connection_sink() = default;
  /// Queues one encoded ServerFrame (shared: the same push frame goes to many connections).
  /// The transport may close a connection whose queue grows past its limit (a client that
  /// does not read).
  virtual void send(schema::shared_frame frame) = 0;
  /// Closes after the queued frames are written. The transport then sends closed_atom.
  virtual void close() = 0;
  /// The client has logged in (or refreshed its login) with a token valid until
  /// `expires_unix_s`: from now on the transport enforces the heartbeat timeout instead of the
  /// login deadline, allows full-size frames, and reports the token's expiry as a timeout.
  virtual void authenticated(std::uint64_t expires_unix_s) = 0;
  /// One request (a frame of `frame_bytes` handed over with frame_atom) has been answered:
  /// the transport's back-pressure lets another one in. Called exactly once per frame.
  virtual void answered(std::size_t frame_bytes) = 0;
  /// The client's address ("ip:port"), for the logs.
  virtual std::string peer() const { return {}; }
};

using sink_ptr = std::shared_ptr<connection_sink>;

/// Spawns a connection hub. The transport picks a hub and an id unique on this node for each
/// new socket and sends, in this order: (open_atom, id, sink_ptr, uint64 opened_ns: the accept
/// time on the steady clock) once; (frame_atom, id, frame_words) for every complete frame;
/// (badframe_atom, id, uint16 errc) when the stream cannot be read; (timeout_atom, id, uint16
/// reason) once when a deadline passed, reason being the wire::KickReason to close with
/// (loginTimeout, heartbeatTimeout, frameTimeout, tokenExpired); and (closed_atom, id) once the
/// socket is closed. The transport watches these clocks, not the hub: a timer per connection
/// would cost every idle connection CAF clock entries.
/// (shutdown_atom) closes every connection left and stops the hub.
caf::actor spawn_connection_hub(services& svc);

/// An encoded Kicked frame (reason: a wire::KickReason value), for transports that must close a
/// connection themselves (a client too slow to read its pushes).
schema::shared_frame encode_kicked(std::uint16_t reason, const std::string& detail);

/// An encoded Result frame with request id 0 carrying `err` as the wire has it, for transports
/// that refuse a socket before any connection exists.
schema::shared_frame encode_error(const error& err);

/// wire::KickReason values the transport uses, without the generated header.
namespace kick_reason {
constexpr std::uint16_t heartbeat_timeout = 1;
constexpr std::uint16_t too_slow = 2;
constexpr std::uint16_t token_expired = 6;
constexpr std::uint16_t login_timeout = 7;
constexpr std::uint16_t frame_timeout = 8;
}  // namespace kick_reason

}  // namespace parley::actors

// Sinks only travel between the gateway and a hub of the same process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::sink_ptr)
