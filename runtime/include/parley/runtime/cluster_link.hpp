#pragma once
// The cluster port: mutual TLS between nodes, in front of CAF's middleman.
//
// CAF's BASP lets whoever holds a connection send any message to any local actor, so the
// transport itself must refuse strangers. CAF 0.17's OpenSSL module authenticated peers, but
// it dropped refused ones without a word (its SSL_CTX is private, there is no hook to log
// them) and stalled for seconds while shards moved (docs/SECURITY.md). So TLS is done here,
// outside CAF, with the engine the client port uses (schema/tls.hpp), and CAF only ever sees
// the plaintext end of a socket pair:
//
//   peer ==TLS/TCP==> link: accept, handshake, check the certificate --socketpair--> CAF BASP
//   CAF BASP --socketpair--> link: connect, handshake, check the certificate ==TLS/TCP==> peer
//
// Nothing listens in plaintext, not even on loopback: a local user has no port to reach.
// Each refused peer (no certificate, one of another CA, not TLS at all, no handshake within
// the timeout) is reported with its address and the reason, for the node's log.
//
// One thread runs every tunnel (Asio). A tunnel reads a side only when what it read before has
// been written to the other, so it holds at most a few 64 KiB buffers per direction; at most
// `max_handshakes` handshakes run at once (more connections are closed at once, and reported).
// CAF's own back-pressure is unchanged: it sees a socket that drains as fast as the peer reads.

#include "parley/runtime/cluster_tls.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace parley::runtime {

struct cluster_link_options {
  std::string host = "127.0.0.1";  ///< Address the cluster port binds to.
  std::uint16_t port = 0;          ///< 0: any free port (see cluster_link::port()).
  tls_identity tls;                ///< This node's certificate and the cluster CA (all three).
  /// From the TCP accept (or the start of a dial) to the end of the TLS handshake.
  std::chrono::milliseconds handshake_timeout{5000};
  /// Handshakes in progress at once (inbound); a connection beyond them is closed at once.
  std::size_t max_handshakes = 64;
};

class cluster_link {
 public:
  /// An authenticated peer connected: `fd` is the plaintext end of its tunnel, now the
  /// handler's to own (and close). Called on the link's thread.
  using peer_handler = std::function<void(int fd)>;
  /// A peer was refused (`peer` is "address:port"; `why` is for the operator, never sent).
  /// Called on the link's thread, once per refused connection.
  using refusal_handler = std::function<void(const std::string& peer, const std::string& why)>;

  /// Binds the port and starts the thread. Fails with a tls error (bad files) or a cluster
  /// error (bad_config, cannot_listen).
  static result<std::unique_ptr<cluster_link>> start(const cluster_link_options& options,
                                                     peer_handler on_peer,
                                                     refusal_handler on_refused);

  /// Closes the port and every tunnel, and joins the thread.
  ~cluster_link();
  cluster_link(const cluster_link&) = delete;
  cluster_link& operator=(const cluster_link&) = delete;

  /// The port it listens on.
  std::uint16_t port() const;

  /// Opens a tunnel to a node's cluster port; blocks until the TLS handshake is done (and the
  /// peer's certificate checked) or has failed, at most the handshake timeout. Returns the
  /// plaintext end (the caller owns it) or cluster.peer_unreachable. A peer whose certificate
  /// is refused is also reported to the refusal handler.
  result<int> dial(const std::string& host, std::uint16_t port);

  /// Connections refused so far (inbound and outbound).
  std::uint64_t refused() const;

 private:
  struct impl;
  explicit cluster_link(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::runtime
