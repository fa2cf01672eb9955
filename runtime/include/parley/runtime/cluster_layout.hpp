#pragma once
// The cluster's layout in etcd: every key and every value's JSON form, in one place. Nodes,
// the mover, `imctl` and the test harness read and write etcd only through these.
//
//   <prefix>/nodes/<id>     node_info, attached to the node's lease (registration)
//   <prefix>/coordinator    the coordinating node's id, attached to its lease (election)
//   <prefix>/shardmap       {"epoch": E, "shard_count": S, "owners": [node id per shard]}
//   <prefix>/drain/<id>     present ("1") while an operator drains node <id>
//   <prefix>/stats/<id>     node_figures, attached to the lease, rewritten once a second
//
// The decoders never throw: a value that is not what they expect is "none" (nullopt).

#include "parley/runtime/shard_map.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::runtime {

/// A registered node.
struct node_info {
  node_id id;
  std::string host;
  std::uint16_t cluster_port = 0;
  std::uint16_t client_port = 0;
  std::int64_t incarnation = 0;  ///< The lease it registered with: changes on every restart.
  /// "host:port" of its HTTP port (/metrics: `imctl cluster status` reads its figures there);
  /// "" if it serves none.
  std::string http;
};

/// A shard map as stored: its epoch and one owner per shard ("" for none).
struct stored_shard_map {
  std::uint64_t epoch = 0;
  std::vector<node_id> owners;
};

/// The prefix of a cluster's keys unless the operator names another.
inline constexpr const char* default_cluster_prefix = "/parley";

/// The keys of one cluster (all under its prefix).
class cluster_layout {
 public:
  explicit cluster_layout(std::string prefix) : prefix_(std::move(prefix)) {}

  std::string nodes() const { return prefix_ + "/nodes/"; }  ///< prefix of node()
  std::string node(const node_id& id) const { return nodes() + id; }
  std::string coordinator() const { return prefix_ + "/coordinator"; }
  std::string shard_map() const { return prefix_ + "/shardmap"; }
  std::string drains() const { return prefix_ + "/drain/"; }  ///< prefix of drain()
  std::string drain(const node_id& id) const { return drains() + id; }

  /// The node id a key under nodes() or drains() is about.
  static node_id id_in(const std::string& key) { return key.substr(key.rfind('/') + 1); }

 private:
  std::string prefix_;
};

std::string encode_node_info(const node_info& n);
std::optional<node_info> decode_node_info(const std::string& text);

std::string encode_shard_map(const stored_shard_map& m);
std::optional<stored_shard_map> decode_shard_map(const std::string& text);

}  // namespace parley::runtime
