#pragma once
// The TCP gateway: accepts client sockets on Asio and gives each one to a connection hub.
//
// The node's event loop (runtime/event_loop.hpp) runs the sockets and, on the same threads,
// the actors; only the gateway's code touches a socket. Reading: after a readiness wait the
// session reads into a per-thread scratch buffer (an idle socket keeps no read buffer), probes
// the Cap'n Proto segment table, refuses a frame above the size limit before buffering it, and
// hands each complete frame to its connection's hub (anon_send, thread-safe). Deadlines: one
// sweeper per gateway tells a hub when a client missed the login or heartbeat deadline (no
// timer per connection). Writing: the connection calls connection_sink::send with a shared
// frame (one push frame serves every recipient on the node); sends from all connections go
// through one outbox that posts a single task per burst; on the loop each socket writes
// its queue at once with non-blocking gathering writes and waits for writability only when the
// kernel buffer is full (all frames queued meanwhile then leave in one syscall: a busy
// connection pays far fewer syscalls per frame, an idle one writes each frame at once).
// Connections are spread over the hubs round-robin.
// TLS (when the operator gives a certificate): the same readiness-driven loop runs over a
// memory-buffer TLS engine (schema/tls.hpp): ciphertext read from the socket is fed to it and
// decrypted into the splitter; queued frames are encrypted (at most 64 KiB of ciphertext at a
// time) and written out. The handshake must finish within the login timeout like any login.
// Over the connection cap a TLS socket is closed without a Result (it has no session yet).
// WebSocket (gateway_options::websocket; server/ws_engine.hpp): a second gateway of the node
// with a WebSocket layer between the socket (or its TLS layer) and the splitter; each frame is
// one binary message; everything else below applies unchanged.
// A client whose queue passes max_send_queue_bytes gets Kicked(tooSlow) in place of its
// unwritten frames and is disconnected (it resyncs by seq on reconnect, so nothing is lost),
// which bounds the memory a slow reader can pin.
//
// Bounds on what a client can make the node hold (docs/SECURITY.md lists them all):
// - connections: at most max_connections sockets; one more gets an `unavailable` Result and is
//   closed. Accept failures for want of descriptors back off instead of spinning.
// - read side: a socket is not read while its connection has max_requests_in_flight requests
//   or max_inflight_bytes_per_connection frame bytes unanswered, or while the node as a whole
//   has max_inflight_bytes unanswered, or while its connection is over its request or byte
//   rate (until the refill pays the debt: one timer, made only for a throttled socket); TCP
//   flow control then slows the client down. What one
//   read brings beyond that waits in the connection's splitter (at most one read's worth).
// - buffers grow with the bytes that arrived, never with a size a frame header announces, and
//   before login a frame may be at most max_unauthenticated_frame_bytes (actor_options).
// - deadlines (one sweeper): login, heartbeat (complete frames only count), a started frame must
//   finish within frame_timeout, a session ends when its token expires, and a connection that
//   was told to close but does not read is cut after close_grace.

#include "parley/actors/services.hpp"
#include "parley/runtime/event_loop.hpp"
#include "parley/runtime/rate_limit.hpp"
#include "parley/server/errc.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace parley::server {

/// Options of the TCP gateway. Plain struct; validated in cli/.
struct gateway_options {
  /// Address to listen on. Default loopback only.
  std::string host = "127.0.0.1";
  /// Port; 0 picks a free one (tests). Default 7420.
  std::uint16_t port = 7420;
  /// Listen backlog; high so login bursts are not refused. Default 4096.
  int backlog = 4096;
  /// Bytes queued for one client (beyond what the kernel holds) before it is disconnected as
  /// too slow; a single frame is queued whatever its size. Default 4 MiB.
  std::size_t max_send_queue_bytes = 4u << 20;
  /// Connection hub actors (actors/connection.hpp); 0 = one per loop thread. Default 0.
  std::size_t hubs = 0;
  /// Most client sockets open at once; 0 = the process's descriptor limit minus
  /// reserved_descriptors. Default 0.
  std::size_t max_connections = 0;
  /// Descriptors kept free for storage (RocksDB opens up to 512), the cluster and the app port
  /// when max_connections is derived from the descriptor limit. Default 1024.
  std::size_t reserved_descriptors = 1024;
  /// Requests one connection may have unanswered before its socket is no longer read.
  /// Default 32 (enough to pipeline sends at full speed on a LAN).
  std::size_t max_requests_in_flight = 32;
  /// Frame bytes one connection may have unanswered before its socket is no longer read (one
  /// frame is always admitted). Default 2 MiB.
  std::size_t max_inflight_bytes_per_connection = 2u << 20;
  /// Frame bytes all connections together may have unanswered before reading pauses
  /// everywhere until answers free some. Default 256 MiB.
  std::size_t max_inflight_bytes = 256u << 20;
  /// Requests one connection may send per second, and as a burst after a quiet period. Above
  /// it the socket is read only as fast as the rate allows (no error: TCP flow control slows
  /// the client, and the node spends nothing on frames it has not read). {0, 0}: off.
  /// Default 500/s, bursts of 1000.
  runtime::rate_limit connection_rate{500, 1000};
  /// Frame bytes one connection may send per second, and as a burst; enforced the same way.
  /// Default 1 MiB/s, bursts of 4 MiB (a frame larger than the burst still passes, in debt).
  runtime::rate_limit connection_byte_rate{1 << 20, 4 << 20};
  /// How long a connection that was told to close (kicked, too slow) may take to read its last
  /// frames before it is cut. Default 5 s.
  std::chrono::milliseconds close_grace{5000};
  /// How long a stopping node waits for its clients to take their Kicked(serverShutdown)
  /// frames before it cuts the rest. Default 500 ms.
  std::chrono::milliseconds stop_grace{500};
  /// How long accepting pauses after the process ran out of descriptors. Default 100 ms.
  std::chrono::milliseconds accept_backoff{100};
  /// TLS on the client port: PEM certificate chain (leaf first) and private key. Both set:
  /// every client must speak TLS 1.2 or later; neither: plain TCP. Default plain.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Whether clients speak WebSocket (server/ws_engine.hpp) rather than raw frames over TCP:
  /// one Cap'n Proto frame per binary message, everything else as over TCP. Default off.
  bool websocket = false;
  /// With `websocket`: the origins browsers may connect from ("scheme://host:port", "*" for
  /// any); a request without an Origin header (not a browser) is always accepted.
  std::vector<std::string> websocket_origins;
};

/// Figures of a running gateway (stats, tests).
struct gateway_stats {
  std::uint64_t open = 0;             ///< Sockets open now.
  std::uint64_t refused_full = 0;     ///< Sockets refused because max_connections was reached.
  std::uint64_t accept_backoffs = 0;  ///< Accept failures that paused accepting.
  std::uint64_t paused_reads = 0;     ///< Times a socket stopped being read (back-pressure).
  std::uint64_t throttled_reads = 0;  ///< Times a socket stopped being read (over its rates).
  std::uint64_t inflight_bytes = 0;   ///< Frame bytes handed to hubs and not yet answered.
  std::size_t max_connections = 0;    ///< The connection cap in force.
};

/// The connection cap in force: `configured` if non-zero, else the process's descriptor limit
/// (RLIMIT_NOFILE, soft) minus `reserved` (at least 16).
std::size_t derive_max_connections(std::size_t configured, std::size_t reserved);

/// See the file comment. Owned by the node; stop() before the actor system goes away. Its
/// sockets run on `loop` (which also runs the actors), which must outlive it.
class gateway {
 public:
  gateway(actors::services& svc, gateway_options opts, runtime::event_loop& loop);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Binds and starts accepting. Returns the bound port; fails with node.bad_config,
  /// node.cannot_listen or a tls error.
  result<std::uint16_t> start();

  /// Stops accepting, closes every connection and waits until no socket is left. Idempotent.
  void stop();

  /// Current figures. Any thread.
  gateway_stats stats() const;

  /// The bound port (0 before start()).
  std::uint16_t port() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;  // shared with its handlers still queued on the loop
};

}  // namespace parley::server
