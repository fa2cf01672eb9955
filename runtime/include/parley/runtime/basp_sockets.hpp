#pragma once
// BASP over a socket CAF did not open: the plaintext ends of the cluster link's tunnels.
//
// CAF 0.17 connects and accepts with sockets of its own (middleman::remote_actor / publish).
// The cluster link (cluster_link.hpp) does TCP and TLS itself, so CAF's BASP broker must speak
// over a socket the link made. The broker takes such a socket, wrapped as a scribe, in two
// messages its middleman actor (and CAF's own tests) send it (caf/io/basp_broker.cpp, 0.17.6):
//   (connect_atom, scribe, port)                        — the client side of the handshake;
//                                                          answers the peer's published actor
//   (publish_atom, scribe, port, actor, interfaces)     — the server side: greets the peer
//                                                          with `actor` as published at `port`
// CAF needs nothing else of the socket than recv/send: a Unix socket pair serves.

#include "parley/schema/error.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>
#include <cstdint>

namespace parley::runtime {

/// Serves `gate` to the peer at the other end of `fd` (which CAF now owns).
void serve_gate_over(caf::actor_system& system, int fd, const caf::actor& gate);

/// Greets the peer at the other end of `fd` (which CAF now owns) and returns the actor it
/// serves, or cluster.peer_unreachable if the handshake fails or takes longer than `timeout`.
result<caf::actor> connect_gate_over(caf::actor_system& system, int fd,
                                     std::chrono::milliseconds timeout);

}  // namespace parley::runtime
