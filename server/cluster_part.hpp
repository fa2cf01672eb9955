#pragma once
// The clustered part of a node: its shard map in etcd, its membership, the cluster port, its
// gate and the directory of the other nodes' gates, the mover (drain and join rebalance) and
// shard migration. A single node has none. The node assembles it in phases, in the order CAF,
// the router and the gateway need them, and stops it in reverse:
//
//   configure(cfg)   before the actor system: checks the TLS options, loads CAF's middleman
//   cluster_part()   the shard map (for the router)
//   attach(system)   the gate directory and the serving check (for the router)
//   open(router, ..) the gate, the cluster port
//   join(port, ..)   registration (lease), following the map, the mover
//   ...
//   stop_mover(), leave()   before the gateway and the committer stop
//   close()                 after the router shut down, before the actor system goes
//
// The pieces themselves live in runtime/ (cluster_member, cluster_layout, rebalance,
// cluster_link, node_gate); this class only wires them to the node's router, store and
// actor system, and runs the handoff of a batch of shards to one node (migrate_shards, see
// docs/ARCHITECTURE.md).

#include "parley/runtime/cluster.hpp"
#include "parley/runtime/cluster_link.hpp"
#include "parley/runtime/node_gate.hpp"
#include "parley/runtime/rate_limit.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace parley::store {
class store;
}

namespace parley::server {

class cluster_part {
 public:
  /// Checks the options and prepares the actor system's config (CAF's middleman, heartbeats
  /// that notice a frozen peer). Fails with cluster.bad_config.
  static error configure(const runtime::cluster_options& o, caf::actor_system_config& cfg);

  cluster_part(runtime::cluster_options o, std::uint32_t shard_count);
  ~cluster_part();
  cluster_part(const cluster_part&) = delete;
  cluster_part& operator=(const cluster_part&) = delete;

  /// The shard map the router follows.
  runtime::shard_map& map() { return map_; }
  const std::string& self() const { return opts_.self; }

  /// The actor system exists: makes the directory of the other nodes' gates.
  void attach(caf::actor_system& system);
  const runtime::node_directory* directory() const { return gates_.get(); }
  /// Whether this node may serve its shards now (registered, lease fresh).
  std::function<bool()> serving_check();

  /// What the layers above the router exchange with the other nodes (the app's hooks).
  struct peer_layer {
    /// A message from another node (runs in the gate; returns the answer).
    std::function<caf::message(caf::message&)> handle;
    /// A node's gate connected (or connected again).
    std::function<void(const caf::actor& gate)> connected;
  };

  /// The router exists: spawns the gate and opens the cluster port.
  error open(runtime::router& router, store::store& db, peer_layer peers);
  /// The gates of the other nodes connected now.
  std::vector<caf::actor> peer_gates() const {
    return gates_ ? gates_->connected() : std::vector<caf::actor>{};
  }

  /// The client port is known: registers (with `http`, "host:port" of the HTTP port or ""),
  /// follows the cluster and starts the mover.
  error join(std::uint16_t client_port, const std::string& http);

  /// Moves `shard` (owned here) to node `target`: migrate_shards of one.
  error migrate_shard(std::uint32_t shard, const std::string& target);
  /// Hands `shards` (all owned here) to node `target` in one handoff: their actors drain
  /// together, their data is shipped one shard after another while the handoff is within
  /// handoff_budget / handoff_byte_budget (the first always goes), and one map change gives
  /// the target what was shipped. The rest is served here again: the shards left out by the
  /// budget, and on a failure (a cluster error, returned) those not shipped before it — or all
  /// of them if the map change itself failed. One migration at a time.
  error migrate_shards(const std::vector<std::uint32_t>& shards, const std::string& target);
  /// A handoff stops taking more shards after this long (they wait parked meanwhile)...
  static constexpr std::chrono::milliseconds handoff_budget{300};
  /// ... or once it has shipped this many bytes.
  static constexpr std::uint64_t handoff_byte_budget = 64ull << 20;

  /// Asks node `node` (a member) to drain: its shards move to the others, then it stops (the
  /// admin page's drain; `imctl node drain` writes the same request).
  error request_drain(const std::string& node);
  /// The members registered now.
  std::vector<std::string> member_ids() const;

  void stop_mover();
  /// Graceful leave: revokes the lease; a drained node also withdraws its drain request (so
  /// that it may serve again when restarted).
  void leave();
  /// Stops the gate, the membership, the cluster port and the gate directory.
  void close();

  std::uint16_t port() const { return port_; }
  std::uint64_t refused_peers() const { return link_ ? link_->refused() : 0; }
  bool drained() const { return drained_.load(); }
  void hold_map_updates(bool held) { map_.hold(held); }
  /// How long each handoff took (a handoff moves one or more shards).
  std::vector<double> handoff_times_ms() const;
  /// Shards handed to other nodes, all handoffs together.
  std::uint64_t shards_moved() const;
  std::size_t reachable_peers() const { return gates_ ? gates_->reachable() : 0; }
  bool serving() const { return member_ && member_->serving(); }
  bool coordinating() const { return member_ && member_->coordinating(); }

 private:
  /// How the gate directory reaches other nodes' gates: through the cluster link's TLS
  /// tunnels, or CAF's plain middleman on an insecure cluster port.
  runtime::gate_directory::connector gate_connector();
  error open_port();
  /// Logs a refused cluster peer, at most 10 lines a second (bursts of 20), then a count of
  /// those not logged, so that a flood of strangers cannot fill the disk. Link thread only.
  void log_refusal(const std::string& peer, const std::string& why);
  /// One step of the mover: the first batch of a fresh plan (runtime/rebalance.hpp). True if
  /// it moved shards of a draining node (the mover then plans again at once).
  bool move_step(runtime::etcd_client& etcd);

  runtime::cluster_options opts_;
  runtime::etcd_shard_map map_;
  caf::actor_system* system_ = nullptr;
  runtime::router* router_ = nullptr;
  store::store* db_ = nullptr;
  // Shared: the gate's hello hook holds it weakly, and may run until the gate has exited.
  std::shared_ptr<runtime::gate_directory> gates_;
  caf::actor gate_;
  std::unique_ptr<runtime::cluster_link> link_;  // the cluster port with TLS (else CAF's own)
  std::uint16_t port_ = 0;
  std::unique_ptr<runtime::cluster_member> member_;
  mutable std::mutex migrate_mu_;  // one migration at a time
  struct handoff {
    std::size_t shards;
    double ms;
  };
  std::vector<handoff> handoffs_;
  std::thread mover_;
  std::atomic<bool> mover_stop_{false};
  std::atomic<bool> drained_{false};
};

}  // namespace parley::server
