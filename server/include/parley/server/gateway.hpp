#pragma once
// The TCP gateway: accepts client sockets on Asio and gives each one to a connection hub.
//
// Asio threads own the sockets; CAF actors never touch them. Reading: after a readiness wait the
// session reads into a per-thread scratch buffer (an idle socket keeps no read buffer), probes
// the Cap'n Proto segment table, refuses a frame above the size limit before buffering it, and
// hands each complete frame to its connection's hub (anon_send, thread-safe). Deadlines: one
// sweeper per gateway tells a hub when a client missed the login or heartbeat deadline (no
// timer per connection). Writing: the connection calls connection_sink::send with a shared
// frame (one push frame serves every recipient on the node); sends from all connections go
// through one outbox that posts a single io task per burst; on the io thread each socket writes
// its queue at once with non-blocking gathering writes and waits for writability only when the
// kernel buffer is full (all frames queued meanwhile then leave in one syscall: a busy
// connection pays far fewer syscalls per frame, an idle one writes each frame at once).
// Connections are spread over the hubs round-robin.
// A client whose queue passes max_send_queue_bytes is disconnected (it resyncs by seq on
// reconnect, so nothing is lost), which bounds the memory a slow reader can pin.

#include "parley/actors/services.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

namespace parley::server {

/// Options of the TCP gateway. Plain struct; validated in cli/.
struct gateway_options {
  /// Address to listen on. Default loopback only.
  std::string host = "127.0.0.1";
  /// Port; 0 picks a free one (tests). Default 7420.
  std::uint16_t port = 7420;
  /// Listen backlog; high so login bursts are not refused. Default 4096.
  int backlog = 4096;
  /// Threads running the Asio event loop. Default 1.
  std::size_t io_threads = 1;
  /// Bytes queued for one client (beyond what the kernel holds) before it is disconnected as
  /// too slow; a single frame is queued whatever its size. Default 4 MiB.
  std::size_t max_send_queue_bytes = 4u << 20;
  /// Connection hub actors (actors/connection.hpp); 0 = one per CAF worker thread. Default 0.
  std::size_t hubs = 0;
};

/// See the file comment. Owned by the node; stop() before the actor system goes away.
class gateway {
 public:
  gateway(actors::services& svc, gateway_options opts);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Binds and starts accepting. Returns the bound port, or why it could not bind.
  std::variant<std::uint16_t, std::string> start();

  /// Stops accepting, closes every connection and joins the Asio threads. Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::server
