#include "parley/testing/embedded_cluster.hpp"

#include "parley/runtime/cluster_layout.hpp"
#include "parley/runtime/cluster_tls.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/etcd.hpp"
#include "parley/runtime/etcd_process.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/runtime/token.hpp"

#include <asio.hpp>

#include <algorithm>
#include <stdexcept>

namespace parley::testing {

std::uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

etcd_server::etcd_server(runtime::tls_identity tls) : dir_("parley-etcd") {
  runtime::etcd_process_options o;
  o.data_dir = dir_.path() + "/data";
  o.log_file = dir_.path() + "/etcd.log";
  o.tls = std::move(tls);
  // A port found free can be taken by another process before etcd binds it (tests running in
  // parallel open many connections; seen once in the sanitizer lane): try new ports.
  for (int attempt = 1;; ++attempt) {
    o.client_port = free_port();
    o.peer_port = free_port();
    auto started = runtime::etcd_process::start(o);
    if (started) {
      process_ = std::move(*started);
      return;
    }
    if (attempt == 3) throw std::runtime_error(started.error().message());
  }
}

etcd_server::~etcd_server() = default;

const std::string& etcd_server::endpoint() const {
  return process_->endpoint();
}

void etcd_server::kill() {
  process_->kill();
}

embedded_cluster::embedded_cluster(std::size_t n, server::node_options base, bool tls)
    : base_(std::move(base)),
      tls_(tls),
      dir_("parley-cluster"),
      etcd_(std::make_unique<etcd_server>()) {
  // Port 0: each node binds a port of its own choosing (a port picked free beforehand can be
  // taken by a parallel test before the node binds it); a restart reuses the one it got.
  cluster_ports_.assign(n, 0);
  nodes_.resize(n);
  expected_ = static_cast<std::uint32_t>(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto started = server::node::start(options_for(i));
    if (!started) {
      throw std::runtime_error("node " + std::to_string(i) + ": " + started.error().message());
    }
    nodes_[i] = std::move(*started);
    cluster_ports_[i] = nodes_[i]->cluster_port();
  }
  if (!wait_until([&] { return ready(); }, std::chrono::seconds(20))) {
    throw std::runtime_error("the cluster did not agree on a shard map and connect");
  }
}

embedded_cluster::~embedded_cluster() {
  for (auto& node : nodes_) {
    if (node) node->stop();
  }
  nodes_.clear();
}

server::node_options embedded_cluster::options_for(std::size_t i) const {
  server::node_options o = base_;
  o.data_dir = dir_.path() + "/node-" + std::to_string(i);
  o.secret_file = dir_.path() + "/secret";
  o.gateway.host = "127.0.0.1";
  o.gateway.port = 0;
  o.cluster.etcd = etcd_->endpoint();
  o.cluster.self = "node-" + std::to_string(i);
  o.cluster.cluster_port = cluster_ports_[i];
  o.cluster.expected_nodes = expected_;
  if (!tls_) {
    o.cluster.insecure = true;  // loopback only
    return o;
  }
  const std::string tls_dir = dir_.path() + "/tls";
  if (auto e = runtime::ensure_cluster_ca(tls_dir)) throw std::runtime_error(e.message());
  auto identity = runtime::issue_node_identity(tls_dir, o.cluster.self);
  if (!identity) throw std::runtime_error(identity.error().message());
  o.cluster.tls = *identity;
  return o;
}

server::node& embedded_cluster::node(std::size_t i) {
  if (!nodes_[i]) throw std::logic_error("node " + std::to_string(i) + " is stopped");
  return *nodes_[i];
}

void embedded_cluster::stop(std::size_t i) {
  if (nodes_[i]) nodes_[i]->stop();
  nodes_[i].reset();
}

void embedded_cluster::start(std::size_t i) {
  if (nodes_[i]) return;
  auto started = server::node::start(options_for(i));
  if (!started) {
    throw std::runtime_error("node " + std::to_string(i) + ": " + started.error().message());
  }
  nodes_[i] = std::move(*started);
  cluster_ports_[i] = nodes_[i]->cluster_port();
  if (!wait_until([&] { return ready(); }, std::chrono::seconds(20))) {
    throw std::runtime_error("node " + std::to_string(i) + " did not join its cluster");
  }
}

bool embedded_cluster::ready() const {
  std::size_t running = 0;
  for (auto& node : nodes_) running += node ? 1 : 0;
  for (auto& node : nodes_) {
    if (!node) continue;
    const auto s = node->stats();
    if (s.map_epoch == 0 || !s.serving || s.reachable_peers + 1 < running) return false;
  }
  return true;
}

std::size_t embedded_cluster::add_node() {
  const std::size_t i = nodes_.size();
  cluster_ports_.push_back(0);
  nodes_.emplace_back();
  start(i);
  return i;
}

std::size_t embedded_cluster::shards_of(std::size_t i) {
  runtime::etcd_client etcd(etcd_->endpoint());
  auto kv = etcd.get(runtime::cluster_layout(base_.cluster.prefix).shard_map());
  auto map = kv && *kv ? runtime::decode_shard_map((*kv)->value) : std::nullopt;
  if (!map) return 0;
  return static_cast<std::size_t>(
      std::count(map->owners.begin(), map->owners.end(), "node-" + std::to_string(i)));
}

void embedded_cluster::drain(std::size_t i, std::chrono::seconds timeout) {
  runtime::etcd_client etcd(etcd_->endpoint());
  const std::string key =
      runtime::cluster_layout(base_.cluster.prefix).drain("node-" + std::to_string(i));
  if (auto err = etcd.put(key, "1")) throw std::runtime_error(err.describe());
  const bool done = wait_until([&] { return nodes_[i] && nodes_[i]->drained(); }, timeout);
  if (!done) throw std::runtime_error("node " + std::to_string(i) + " did not drain");
  for (double ms : nodes_[i]->handoff_times_ms()) drained_handoffs_.push_back(ms);
  stop(i);
  if (auto err = etcd.erase(key)) throw std::runtime_error(err.describe());
}

server::node_options embedded_cluster::test_defaults() {
  server::node_options o;
  o.shard_count = 16;
  return o;
}

std::uint32_t embedded_cluster::shard_of(const std::string& entity_id) const {
  return runtime::shard_of(entity_id, base_.shard_count);
}

std::size_t embedded_cluster::owner_of(const std::string& entity_id) {
  const auto shard = shard_of(entity_id);
  // Every node follows the same map; ask a running one through etcd's copy.
  runtime::etcd_client etcd(etcd_->endpoint());
  auto kv = etcd.get(runtime::cluster_layout(base_.cluster.prefix).shard_map());
  auto map = kv && *kv ? runtime::decode_shard_map((*kv)->value) : std::nullopt;
  if (!map) throw std::runtime_error("no shard map in etcd");
  const auto& owner = map->owners.at(shard);
  return static_cast<std::size_t>(std::stoul(owner.substr(owner.find('-') + 1)));
}

std::string embedded_cluster::name_on(std::size_t i, const std::string& kind,
                                      const std::string& prefix) {
  for (int n = 0;; ++n) {
    const std::string name = prefix + std::to_string(n);
    if (owner_of(kind + name) == i) return name;
  }
}

std::string embedded_cluster::user_on(std::size_t i, const std::string& prefix) {
  return name_on(i, "user/", prefix);
}

std::string embedded_cluster::group_on(std::size_t i, const std::string& prefix) {
  return name_on(i, "group/", prefix);
}

std::string embedded_cluster::secret_file() const {
  return dir_.path() + "/secret";
}

std::string embedded_cluster::token(const std::string& user) const {
  auto secret = runtime::load_or_create_secret(secret_file());
  if (!secret) throw std::runtime_error(secret.error().message());
  return runtime::token_authority(*secret).issue(user, std::chrono::hours(1));
}

std::unique_ptr<client::connection> embedded_cluster::login(std::size_t i, const std::string& user,
                                                            const std::string& device) const {
  if (!nodes_[i]) throw std::logic_error("node " + std::to_string(i) + " is stopped");
  auto c = client::connection::connect("127.0.0.1", nodes_[i]->port());
  if (!c) throw std::runtime_error(c.error().describe());
  auto conn = std::move(*c);
  auto r = conn->login(token(user), device);
  if (!r.ok()) {
    throw std::runtime_error("login of " + user + " at node " + std::to_string(i) + ": " +
                             client::to_string(r.code) + " " + r.error);
  }
  return conn;
}

}  // namespace parley::testing
