#pragma once
// Embedded cluster harness: an etcd server (Debian's etcd, child process, loopback, temp data
// dir) plus N Parley nodes in this process, each with its own data dir, client port and CAF
// middleman port, sharing one token secret. Fault injection: stop a node (graceful leave) and
// start it again on its data. For Parley's cluster tests and for app developers' own.
//
//   parley::testing::embedded_cluster cluster(3);
//   auto alice = cluster.login(0, "alice");      // connected to node 0
//   auto bob = cluster.login(2, "bob");          // connected to node 2
//   cluster.owner_of("user/bob");                // index of the node owning bob's shard

#include "parley/client/client.hpp"
#include "parley/runtime/etcd_process.hpp"
#include "parley/server/node.hpp"
#include "parley/testing/embedded_node.hpp"

#include <memory>
#include <string>
#include <vector>

namespace parley::testing {

/// An etcd server on loopback for the lifetime of this object.
class etcd_server {
 public:
  /// Throws std::runtime_error if etcd does not start within 10 s. With `tls` configured, etcd
  /// serves https with tls.cert_file / key_file and accepts only clients with a certificate
  /// of tls.ca_file.
  explicit etcd_server(runtime::tls_identity tls = {});
  ~etcd_server();
  etcd_server(const etcd_server&) = delete;
  etcd_server& operator=(const etcd_server&) = delete;
  /// "http://127.0.0.1:<port>" ("https://" with TLS).
  const std::string& endpoint() const;
  /// Kills etcd (fault injection: every node's lease then lapses).
  void kill();

 private:
  temp_dir dir_;
  std::unique_ptr<runtime::etcd_process> process_;
};

/// A loopback port that was free a moment ago.
std::uint16_t free_port();

/// See the file comment.
class embedded_cluster {
 public:
  /// Node options for a test cluster: the defaults with 16 shards (moves stay quick). Start
  /// from these to change something else.
  static server::node_options test_defaults();

  /// Starts etcd and `nodes` nodes with `base` (its shard count is the cluster's); returns once
  /// every node follows the first shard map. `tls`: the nodes authenticate each other with
  /// certificates of a CA made in the cluster's temp dir (runtime/cluster_tls.hpp); otherwise
  /// the cluster port is unauthenticated (loopback only).
  explicit embedded_cluster(std::size_t nodes, server::node_options base = test_defaults(),
                            bool tls = false);
  ~embedded_cluster();

  std::size_t size() const { return nodes_.size(); }
  /// Node `i` (must be running).
  server::node& node(std::size_t i);
  bool running(std::size_t i) const { return nodes_[i] != nullptr; }
  /// Stops node `i` gracefully (its lease is revoked; its shards become unavailable).
  void stop(std::size_t i);
  /// Starts node `i` again on its data dir; waits until it serves.
  void start(std::size_t i);
  /// Starts one more node (a join); it receives shards from the others over time. Returns its
  /// index.
  std::size_t add_node();
  /// Asks node `i` to drain (as `imctl node drain` does) and waits until it owns no shard;
  /// then stops it. Throws on timeout. Its handoff times stay readable via drained_handoffs().
  void drain(std::size_t i, std::chrono::seconds timeout = std::chrono::seconds(60));
  /// Handoff times of nodes stopped by drain().
  const std::vector<double>& drained_handoffs() const { return drained_handoffs_; }
  /// Node `i`'s data dir (kept across stop and start).
  std::string data_dir(std::size_t i) const { return options_for(i).data_dir; }
  /// Shards node `i` owns in the current map.
  std::size_t shards_of(std::size_t i);
  /// The cluster's shard count, and the shard of `entity_id` in it.
  std::uint32_t shard_count() const { return base_.shard_count; }
  std::uint32_t shard_of(const std::string& entity_id) const;
  /// Index of the node owning `entity_id`'s shard in the current map.
  std::size_t owner_of(const std::string& entity_id);
  /// A user name whose user actor lives on node `i` (`prefix` + a number).
  std::string user_on(std::size_t i, const std::string& prefix = "u");
  /// A group name whose group actor lives on node `i`.
  std::string group_on(std::size_t i, const std::string& prefix = "g");
  /// A token for `user`.
  std::string token(const std::string& user) const;
  /// The token secret every node shares (what an app server is given).
  std::string secret_file() const;
  /// A connection to node `i`, logged in as `user`. Throws if login fails.
  std::unique_ptr<client::connection> login(std::size_t i, const std::string& user,
                                            const std::string& device = "device-1") const;
  etcd_server& etcd() { return *etcd_; }

 private:
  server::node_options options_for(std::size_t i) const;
  /// Every running node follows a map, serves, and reaches every other running node.
  bool ready() const;
  std::string name_on(std::size_t i, const std::string& kind, const std::string& prefix);

  server::node_options base_;
  bool tls_ = false;
  std::uint32_t expected_ = 0;
  temp_dir dir_;
  std::unique_ptr<etcd_server> etcd_;
  std::vector<std::uint16_t> cluster_ports_;
  std::vector<std::unique_ptr<server::node>> nodes_;
  std::vector<double> drained_handoffs_;
};

}  // namespace parley::testing
