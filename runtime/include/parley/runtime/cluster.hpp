#pragma once
// Cluster membership and the shard map in etcd.
//
// The keys and values in etcd: runtime/cluster_layout.hpp.
//
// Every node holds a lease and refreshes it (ttl/3); a node whose lease lapses, or that cannot
// reach etcd for a whole ttl, is *fenced*: it stops serving its shards until it has registered
// again, so two nodes never accept writes for one shard. The coordinator (whoever created the
// coordinator key) writes the shard map, only by compare-and-swap on its mod revision, with the
// epoch increased by one: the initial assignment (round-robin over the first `expected_nodes`
// nodes) by the coordinator, every later change by the node that hands a shard off
// (move_shards_owner, called by server/cluster_part.cpp's migration). Nodes watch the map key and
// the member prefix (etcd_watch) and re-read them on every change, plus once per resync interval in
// case a watch broke; the node that changed the map also pushes it to every node's gate. A crashed
// node's shards wait for it (requests for them fail with a retriable `unavailable` until it is
// back).

#include "parley/runtime/cluster_layout.hpp"
#include "parley/runtime/cluster_tls.hpp"
#include "parley/runtime/etcd.hpp"
#include "parley/runtime/shard_map.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace parley::runtime {

/// How a node finds and joins its cluster. Plain struct.
struct cluster_options {
  /// etcd endpoint, e.g. "http://127.0.0.1:2379". Empty: single node, no etcd.
  std::string etcd;
  /// Key prefix of this cluster in etcd (cluster_layout.hpp). Default "/parley".
  std::string prefix = default_cluster_prefix;
  /// This node's id; stable across restarts (its shards wait for it after a crash).
  node_id self = "node-1";
  /// Address other nodes reach this node's CAF middleman on.
  std::string host = "127.0.0.1";
  /// CAF middleman port (0: pick one).
  std::uint16_t cluster_port = 0;
  /// Lease TTL: a node silent this long is fenced and its shards become unavailable. Default 3 s.
  std::chrono::seconds lease_ttl{3};
  /// How often the member thread wakes to refresh its lease and check what the watches saw.
  /// Default 100 ms.
  std::chrono::milliseconds poll{100};
  /// How often the map and member list are re-read without a watch event. Default 1 s.
  std::chrono::milliseconds resync{1000};
  /// Nodes that must have registered before the coordinator writes the first map. Default 1.
  std::uint32_t expected_nodes = 1;
  /// Mutual TLS on the cluster port (runtime/cluster_tls.hpp). Required unless `insecure`.
  tls_identity tls;
  /// TLS to etcd (an https:// endpoint): etcd's CA, and this node's client certificate and
  /// key when etcd checks clients. Default none (http).
  tls_identity etcd_tls;
  /// Run the cluster port without authentication: anyone who reaches it controls the node.
  /// Only for a private network the operator trusts. Default false.
  bool insecure = false;
};

/// The shard map as read from etcd; a thread-safe snapshot.
class etcd_shard_map final : public shard_map {
 public:
  explicit etcd_shard_map(std::uint32_t shard_count) : shard_count_(shard_count) {}
  std::uint32_t shard_count() const override { return shard_count_; }
  node_id owner(std::uint32_t shard) const override;
  std::uint64_t epoch() const override;
  /// Replaces the snapshot if `epoch` is newer (called by the cluster member and the gate).
  void apply(std::uint64_t epoch, std::vector<node_id> owners);
  /// Fault injection: while held, newer maps are remembered but not followed; releasing
  /// follows the newest one.
  void hold(bool held);
  /// Copy of all owners.
  std::vector<node_id> owners() const;

 private:
  const std::uint32_t shard_count_;
  mutable std::mutex mu_;
  std::uint64_t epoch_ = 0;
  std::vector<node_id> owners_;
  bool held_ = false;
  std::uint64_t pending_epoch_ = 0;
  std::vector<node_id> pending_owners_;
};

/// This node's membership: lease, registration, election, following the map. Owns one thread
/// plus the two watch threads.
class cluster_member {
 public:
  using nodes_changed = std::function<void(const std::map<node_id, node_info>&)>;

  cluster_member(cluster_options opts, node_info self, etcd_shard_map& map, nodes_changed on_nodes);
  ~cluster_member();

  /// Registers (blocking until etcd answers or `timeout`: cluster.etcd_unreachable) and starts
  /// the background thread.
  error start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Leaves: stops the thread and revokes the lease (graceful leave). Idempotent.
  void stop();

  /// Whether this node may serve its shards now: registered, and its last successful lease
  /// refresh less than a ttl ago by the local clock. The clock check matters after the
  /// process was frozen (SIGSTOP, a VM pause): its background thread has not yet noticed the
  /// lapsed lease, but requests must not be served from that moment on.
  bool serving() const;
  /// Whether this node is the coordinator.
  bool coordinating() const { return coordinating_.load(std::memory_order_acquire); }
  /// Last known member list.
  std::map<node_id, node_info> nodes() const;
  /// Watch streams established so far (map + members; 2 once both run).
  std::size_t watches_established() const;

 private:
  void run();
  void tick();
  bool register_self();
  void coordinate(const std::map<node_id, node_info>& nodes, bool map_exists);

  cluster_options opts_;
  node_info self_;
  cluster_layout keys_;
  etcd_shard_map& map_;
  nodes_changed on_nodes_;
  std::chrono::steady_clock::time_point last_nodes_callback_;
  etcd_client etcd_;
  std::int64_t lease_ = 0;
  /// Of the last successful refresh (steady_clock ticks); read by serving() on any thread.
  std::atomic<std::chrono::steady_clock::rep> last_keepalive_ok_{0};
  std::chrono::steady_clock::time_point last_keepalive_sent_;
  std::atomic<bool> serving_{false};
  std::atomic<bool> coordinating_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<node_id, node_info> nodes_;
  bool changed_ = true;  ///< A watch saw a change (or none has run yet): re-read now.
  std::chrono::steady_clock::time_point last_read_;
  std::unique_ptr<etcd_watch> map_watch_, nodes_watch_;
  std::thread thread_;
};

/// Gives `shards` from `from` to `to` in the stored map, all in one change: compare-and-swap on
/// its revision with the epoch increased by one, retried while other changes race it (at most 20
/// times). Returns the new map, or a cluster error: etcd_unreachable, etcd_bad_answer (no
/// readable map, or a shard it does not have), map_conflict (`from` no longer owns one of them,
/// or the race lost too often).
result<stored_shard_map> move_shards_owner(etcd_client& etcd, const cluster_layout& keys,
                                           const std::vector<std::uint32_t>& shards,
                                           const node_id& from, const node_id& to);

}  // namespace parley::runtime
