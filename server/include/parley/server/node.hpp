#pragma once
// One Parley node: the store, the CAF actor system, the router with its shard map, the group
// committer, the token authority and the TCP gateway, built in that order by start() and torn
// down in reverse by stop(). Used by `imctl cluster start`, by the tests and by app developers
// who embed an engine in their own tests (see embedded.hpp).

#include "parley/actors/services.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/server/gateway.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace parley::store {
class fault_injector;
}

namespace parley::server {

/// Where and how the app port listens (server/app_port.hpp).
struct app_port_options {
  /// Listen address; loopback by default (an app server runs beside the node).
  std::string host = "127.0.0.1";
  /// Port; 0 = any free port (tests). The CLI's default is 7421.
  std::uint16_t port = 0;
  /// App connections at once; more are closed at accept. Default 64.
  std::uint32_t max_connections = 64;
  /// Wrong secrets tolerated on one connection; the next closes it. Default 2.
  std::uint32_t max_auth_failures = 2;
  /// Largest message and most call data in flight per connection, in 8-byte words. Default
  /// 1 Mi words (8 MiB).
  std::uint64_t max_call_words = 1 << 20;
};

/// The HTTP port for operators and browsers: /metrics, /healthz, /readyz, and the web pages
/// (server/http_port.hpp).
struct http_port_options {
  /// Listen address; loopback by default (a scraper runs beside the node, or a proxy).
  std::string host = "127.0.0.1";
  /// Port; 0 = any free port (tests). The CLI's default is the client port + 2000.
  std::uint16_t port = 0;
  /// Directory of the web pages (the built web/app: the chat at /, the admin page at
  /// /admin.html), read once at start; empty = no pages.
  std::string web_root;
};

/// The WebSocket listener for browsers (server/ws_engine.hpp): the client protocol, one frame
/// per binary message, with the client port's limits and TLS.
struct websocket_options {
  /// Address to listen on. Default loopback only.
  std::string host = "127.0.0.1";
  /// Port; 0 = any free port (tests). The CLI's default is the client port + 3000.
  std::uint16_t port = 0;
  /// Origins browsers may connect from ("scheme://host:port"; "*" any). A request without an
  /// Origin header (not a browser) is always accepted.
  std::vector<std::string> origins;
};

/// Everything a node needs. Plain struct; parsed and validated in cli/.
struct node_options {
  /// Data directory: RocksDB under <data_dir>/db, the token secret in <data_dir>/secret.
  std::string data_dir = "./parley-data";
  /// Where the admin API's backups go (each a data dir of its own: <node>-<UTC time>); empty:
  /// no backups through the API.
  std::string backup_dir;
  /// Token secret file; empty = <data_dir>/secret. Every node of a cluster needs the same.
  std::string secret_file;
  /// Shards of a new data dir (fixed afterwards). Default 64.
  std::uint32_t shard_count = 64;
  /// Benchmark only: acks no longer wait for fsync, so a power cut may lose acked messages.
  /// Logged loudly at start. Default off.
  bool unsafe_no_fsync = false;
  /// While writes overlap, a group commit (one fsync) starts at least this long after the
  /// previous one, so more writes share it; 0: at once. A lone client is never held back.
  /// Default 1 ms (runtime/group_committer.hpp).
  std::chrono::microseconds min_sync_interval{1000};
  /// Threads of the event loop (sockets and actors); 0 = one per core.
  std::size_t worker_threads = 0;
  /// Client listener.
  gateway_options gateway;
  /// Whether the node serves the app port (schema/app.capnp). Off by default here (embedded
  /// nodes in tests and examples choose); `imctl node` turns it on.
  bool app_enabled = false;
  /// The app port.
  app_port_options app;
  /// Whether the node serves WebSocket clients. Off by default here; `imctl node` turns it on.
  bool websocket_enabled = false;
  /// The WebSocket listener.
  websocket_options websocket;
  /// Whether the node serves the HTTP port. Off by default here; `imctl node` turns it on.
  bool http_enabled = false;
  /// The HTTP port.
  http_port_options http;
  /// Entity and connection tunables.
  actors::actor_options actors;
  /// Cluster membership; `cluster.etcd` empty = single node with the embedded shard map.
  runtime::cluster_options cluster;
  /// Tests only: faults injected into the store's file writes.
  std::shared_ptr<store::fault_injector> storage_faults;
  /// Tests only: see actors::services::inject_fault.
  std::function<void(const std::string& where)> inject_fault;
};

/// Point-in-time figures of a node.
struct node_stats {
  std::uint64_t connections = 0;
  std::uint64_t logins = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_expired = 0;  ///< Entries deleted by retention.
  std::uint64_t pushes = 0;
  std::uint64_t bad_frames = 0;
  std::uint64_t active_entities = 0;
  std::uint64_t commit_groups = 0;
  std::uint64_t commit_batches = 0;
  std::uint64_t map_epoch = 0;        ///< Epoch of the shard map this node follows.
  std::uint32_t owned_shards = 0;     ///< Shards this node owns in it.
  bool serving = true;                ///< False while fenced (lease lapsed).
  bool coordinating = false;          ///< Whether this node is the cluster's coordinator.
  std::uint32_t reachable_peers = 0;  ///< Other nodes whose gate this node is connected to.
  /// Refused logins by actors::login_refusal.
  std::array<std::uint64_t, actors::login_refusal_kinds> logins_refused{};
  std::uint64_t shard_moves = 0;    ///< Shards this node handed to another.
  std::uint64_t shard_move_ms = 0;  ///< Their handoffs' durations, summed (ms).
};

/// A running node. See the file comment.
class node {
 public:
  /// Builds and starts a node; on failure (an error of the module that failed: store, auth,
  /// cluster, tls or node) nothing is left running.
  static result<std::unique_ptr<node>> start(node_options opts);

  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// The port clients connect to.
  std::uint16_t port() const;
  /// The app port (0 when the node serves none).
  std::uint16_t app_port() const;
  /// The WebSocket port (0 when the node serves none).
  std::uint16_t websocket_port() const;
  /// The HTTP port (0 when the node serves none).
  std::uint16_t http_port() const;
  /// What /metrics answers (Prometheus text format).
  std::string metrics() const;
  /// "host:port" of the client listener.
  std::string endpoint() const;
  /// The port other nodes reach this one on (0 for a single node).
  std::uint16_t cluster_port() const;
  /// Connections to or from the cluster port refused for want of a good certificate (always 0
  /// on an insecure cluster port).
  std::uint64_t refused_cluster_peers() const;
  /// This node's id.
  const std::string& id() const;
  /// Issues a login token for `user`, expiring `ttl_seconds` from now (at most 400 days; zero
  /// or negative: already expired, for tests).
  std::string issue_token(const std::string& user, std::int64_t ttl_seconds = 86400) const;
  /// Current figures.
  node_stats stats() const;
  /// The client gateway's figures (connections, refusals, back-pressure).
  gateway_stats gateway_figures() const;

  /// Ends `user`'s sessions on `device` ("" = all devices) with Kicked(kickedByApp) and
  /// `detail`, wherever in the cluster the user's presence lives. Fire and forget.
  void kick_user(const std::string& user, const std::string& device, const std::string& detail);

  /// Moves `shard`, which this node must own, to node `target` (cluster mode): hold new
  /// requests for it, drain its actors, export its column family, ship it to the target's gate,
  /// flip the map in etcd (CAS, epoch + 1), tell every node, replay the held requests to the
  /// target and forget the local copy. Blocks; call from a plain thread. On failure (a cluster
  /// error) this node still owns and serves the shard.
  error migrate_shard(std::uint32_t shard, const std::string& target);

  /// Fault injection (tests): while held, this node keeps routing by the shard map it has now,
  /// as if etcd and its peers were slow to tell it about changes; releasing adopts the newest
  /// map it was told about.
  void hold_map_updates(bool held);

  /// Milliseconds each completed handoff took (stop serving -> map flipped), in order.
  std::vector<double> handoff_times_ms() const;

  /// Whether this node has been asked to drain and has moved all its shards away (the
  /// foreground process then stops it).
  bool drained() const;
  /// Closes connections, finishes pending writes, stops actors, closes the store. Idempotent.
  void stop();

 private:
  struct impl;
  explicit node(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::server
