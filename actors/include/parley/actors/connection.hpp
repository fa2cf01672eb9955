#pragma once
// The connection actor: one per client socket, on the node the client connected to.
//
// It decodes ClientFrames, enforces login (token check) and input limits, forwards typed
// requests to the entity actors through the router, and writes their answers and the user's
// pushes back as ServerFrames. It never moves: entity actors may live anywhere.
//
// The transport (TCP now, WebSocket later) stays outside: it hands complete frames to the
// actor and writes what the actor gives it through a connection_sink.

#include "parley/actors/services.hpp"
#include "parley/schema/framing.hpp"

#include <caf/actor.hpp>

#include <memory>
#include <string>

namespace parley::actors {

/// The transport side of one connection. Implementations are thread-safe: the connection
/// actor calls them from CAF worker threads.
class connection_sink {
 public:
  virtual ~connection_sink() = default;
  /// Queues one encoded ServerFrame. The transport may close a connection whose queue grows
  /// past its limit (a client that does not read).
  virtual void send(schema::frame_words frame) = 0;
  /// Closes after the queued frames are written. The transport then sends closed_atom.
  virtual void close() = 0;
  /// The client has logged in: from now on the transport enforces the heartbeat timeout
  /// instead of the login deadline.
  virtual void authenticated() = 0;
};

/// Spawns the actor of one new connection. The transport sends it (frame_atom, frame_words)
/// for every complete frame, (badframe_atom, uint16 errc) when the stream cannot be read,
/// (closed_atom) once the socket is closed, and (timeout_atom, bool login) once when the
/// client did not log in within the login timeout (login = true) or sent no frame within the
/// heartbeat timeout. The transport watches these clocks, not the actor: a per-actor timer
/// costs every idle connection ~200 bytes (CAF's actor clock entries and a mailbox element).
caf::actor spawn_connection(services& svc, std::shared_ptr<connection_sink> sink);

}  // namespace parley::actors
