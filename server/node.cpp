#include "parley/server/node.hpp"

#include "parley/actors/entities.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/group_committer.hpp"
#include "parley/runtime/node_gate.hpp"
#include "parley/runtime/router.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/runtime/token.hpp"
#include "parley/store/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include <filesystem>
#include <iostream>
#include <thread>

namespace parley::server {

struct node::impl {
  node_options opts;
  std::unique_ptr<store::store> db;
  std::unique_ptr<runtime::token_authority> tokens;
  std::unique_ptr<runtime::shard_map> map;
  runtime::etcd_shard_map* cluster_map = nullptr;  // == map.get() in cluster mode
  std::unique_ptr<runtime::gate_directory> gates;
  std::unique_ptr<runtime::cluster_member> member;
  caf::actor gate;
  std::uint16_t cluster_port = 0;
  std::unique_ptr<runtime::group_committer> committer;
  actors::node_counters counters;
  actors::services svc;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<runtime::router> router;
  std::unique_ptr<gateway> gw;
  std::uint16_t port = 0;
  bool stopped = false;

  void stop() {
    if (stopped) return;
    stopped = true;
    // Outside in: no new requests, then no new writes, then no actors, then no store.
    if (gw) gw->stop();
    if (member) member->stop();  // graceful leave: revoke the lease
    if (committer) committer->stop();
    if (router) {
      for (auto& a : router->shut_down()) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
    if (gate) caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
    gate = nullptr;
    member.reset();  // before the gates: its callback updates them
    gates.reset();   // stops the gate watcher (the router is shut down: nobody asks for gates)
    if (system) system->await_all_actors_done();
    member.reset();
    gw.reset();
    router.reset();
    system.reset();
    committer.reset();
    db.reset();
  }
};

node::node(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

node::~node() { stop(); }

std::variant<std::unique_ptr<node>, std::string> node::start(node_options opts) {
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  auto& o = p->opts;

  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return "cannot create data dir " + o.data_dir + ": " + ec.message();

  std::string error;
  auto secret = runtime::load_or_create_secret(
      o.secret_file.empty() ? o.data_dir + "/secret" : o.secret_file, error);
  if (!secret) return error;
  p->tokens = std::make_unique<runtime::token_authority>(std::move(*secret));

  store::options so;
  so.dir = o.data_dir + "/db";
  so.shard_count = o.shard_count;
  auto db = store::store::open(so);
  if (!db) return "cannot open store: " + db.error().message();
  p->db = std::move(*db);

  if (o.unsafe_no_fsync) {
    std::cerr << "parley: WARNING: --unsafe-no-fsync: acks do not wait for fsync; a power cut "
                 "can lose acknowledged messages. For benchmarks only.\n";
  }
  runtime::committer_options co;
  co.durability = o.unsafe_no_fsync ? store::durability::buffered : store::durability::synced;
  p->committer = std::make_unique<runtime::group_committer>(*p->db, co);

  const bool clustered = !o.cluster.etcd.empty();
  const std::string self_id = clustered ? o.cluster.self : "local";
  if (clustered) {
    auto m = std::make_unique<runtime::etcd_shard_map>(p->db->shard_count());
    p->cluster_map = m.get();
    p->map = std::move(m);
  } else {
    p->map = std::make_unique<runtime::local_shard_map>(self_id, p->db->shard_count());
  }

  const std::size_t workers =
      o.worker_threads ? o.worker_threads : std::max(1u, std::thread::hardware_concurrency());
  p->cfg.set("scheduler.max-threads", workers);
  p->cfg.set("logger.verbosity", caf::atom("quiet"));
  actors::register_message_types(p->cfg);
  if (clustered) {
    p->cfg.load<caf::io::middleman>();
    // Detect a frozen peer too, not only a closed connection (see stack notes).
    p->cfg.set("middleman.heartbeat-interval", caf::timespan(std::chrono::milliseconds(200)));
    p->cfg.set("middleman.connection-timeout", caf::timespan(std::chrono::seconds(1)));
  }
  p->system = std::make_unique<caf::actor_system>(p->cfg);

  p->svc.system = p->system.get();
  p->svc.db = p->db.get();
  p->svc.committer = p->committer.get();
  p->svc.tokens = p->tokens.get();
  p->svc.options = o.actors;
  p->svc.counters = &p->counters;
  std::function<bool()> serving;
  if (clustered) {
    p->gates = std::make_unique<runtime::gate_directory>(*p->system);
    serving = [raw = p.get()] { return raw->member && raw->member->serving(); };
  }
  p->router = std::make_unique<runtime::router>(*p->map, self_id,
                                                actors::make_entity_spawner(p->svc),
                                                p->gates.get(), std::move(serving));
  p->svc.router = p->router.get();
  if (clustered) {
    p->gate = runtime::spawn_node_gate(*p->system, *p->router);
    auto bound = p->system->middleman().publish(p->gate, o.cluster.cluster_port,
                                                o.cluster.host.c_str(), true);
    if (!bound) {
      p->stop();
      return "cannot publish the node gate on " + o.cluster.host + ":" +
             std::to_string(o.cluster.cluster_port) + ": " + p->system->render(bound.error());
    }
    p->cluster_port = *bound;
  }

  p->gw = std::make_unique<gateway>(p->svc, o.gateway);
  auto port = p->gw->start();
  if (auto* msg = std::get_if<std::string>(&port)) {
    p->stop();
    return *msg;
  }
  p->port = std::get<std::uint16_t>(port);
  if (clustered) {
    runtime::node_info self{self_id, o.cluster.host, p->cluster_port, p->port, 0};
    auto* raw = p.get();
    p->member = std::make_unique<runtime::cluster_member>(
        o.cluster, self, *p->cluster_map, [raw, self_id](const auto& nodes) {
          std::map<runtime::node_id, runtime::gate_address> where;
          for (auto& [id, n] : nodes) where[id] = {n.host, n.cluster_port, n.incarnation};
          raw->gates->update(where, self_id);
        },
        [raw] {
          auto& c = raw->counters;
          return "{\"connections\":" + std::to_string(c.connections.load()) +
                 ",\"logins\":" + std::to_string(c.logins.load()) +
                 ",\"messages_sent\":" + std::to_string(c.messages_sent.load()) +
                 ",\"pushes\":" + std::to_string(c.pushes.load()) +
                 ",\"active_entities\":" + std::to_string(raw->router->active_count()) +
                 ",\"client_port\":" + std::to_string(raw->port) + "}";
        });
    if (auto err = p->member->start()) {
      p->stop();
      return "cannot join the cluster: " + classify(err).second;
    }
  }
  return std::unique_ptr<node>(new node(std::move(p)));
}

std::uint16_t node::port() const { return impl_->port; }

std::uint16_t node::cluster_port() const { return impl_->cluster_port; }

const std::string& node::id() const { return impl_->router ? impl_->router->self() : impl_->opts.cluster.self; }

std::string node::endpoint() const {
  return impl_->opts.gateway.host + ":" + std::to_string(impl_->port);
}

std::string node::issue_token(const std::string& user, std::int64_t ttl_seconds) const {
  return impl_->tokens->issue(user, std::chrono::seconds(ttl_seconds));
}

node_stats node::stats() const {
  node_stats s;
  auto& c = impl_->counters;
  s.connections = c.connections.load();
  s.logins = c.logins.load();
  s.messages_sent = c.messages_sent.load();
  s.pushes = c.pushes.load();
  s.bad_frames = c.bad_frames.load();
  if (impl_->router) s.active_entities = impl_->router->active_count();
  if (impl_->map) {
    s.map_epoch = impl_->map->epoch();
    for (std::uint32_t i = 0; i < impl_->map->shard_count(); ++i) {
      if (impl_->router && impl_->map->owner(i) == impl_->router->self()) ++s.owned_shards;
    }
  }
  if (impl_->member) {
    s.serving = impl_->member->serving();
    s.coordinating = impl_->member->coordinating();
  }
  if (impl_->committer) {
    auto cs = impl_->committer->stats();
    s.commit_groups = cs.groups;
    s.commit_batches = cs.batches;
  }
  return s;
}

void node::stop() { impl_->stop(); }

}  // namespace parley::server
