#include "parley/server/node.hpp"

#include "parley/actors/entities.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/basp_sockets.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/cluster_link.hpp"
#include "parley/runtime/group_committer.hpp"
#include "parley/runtime/node_gate.hpp"
#include "parley/runtime/rate_limit.hpp"
#include "parley/runtime/rebalance.hpp"
#include "parley/runtime/router.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/runtime/token.hpp"
#include "parley/store/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

namespace parley::server {

struct node::impl {
  node_options opts;
  std::unique_ptr<store::store> db;
  std::unique_ptr<runtime::token_authority> tokens;
  std::unique_ptr<runtime::shard_map> map;
  runtime::etcd_shard_map* cluster_map = nullptr;  // == map.get() in cluster mode
  // Shared: the gate's hello hook holds it weakly, and may run until the gate has exited.
  std::shared_ptr<runtime::gate_directory> gates;
  std::unique_ptr<runtime::cluster_member> member;
  caf::actor gate;
  std::unique_ptr<runtime::cluster_link> link;  // the cluster port with TLS (else CAF's own)
  runtime::token_bucket refusal_log;            // the link's thread only
  std::uint64_t refusals_unlogged = 0;          // refusals over the log rate, not yet said
  std::uint16_t cluster_port = 0;
  std::unique_ptr<runtime::group_committer> committer;
  actors::node_counters counters;
  std::unique_ptr<runtime::keyed_rate_limiter> user_rates;
  actors::services svc;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<runtime::router> router;
  std::unique_ptr<gateway> gw;
  std::uint16_t port = 0;
  bool stopped = false;
  mutable std::mutex migrate_mu;  // one migration at a time per node
  std::vector<double> handoffs_ms;
  // The mover: drains this node on request and gives shards to emptier nodes (join rebalance).
  std::thread mover;
  std::atomic<bool> mover_stop{false};
  std::atomic<bool> drained{false};
  node* owner = nullptr;

  /// One step of the mover: at most one shard moved. See docs/ARCHITECTURE.md (Rebalancing).
  void move_step(runtime::etcd_client& etcd);

  /// How the gate directory reaches the other nodes' gates: through the cluster link's TLS
  /// tunnels, or CAF's plain middleman on an insecure cluster port.
  runtime::gate_directory::connector gate_connector() {
    if (!opts.cluster.tls.configured()) {
      return [this](const runtime::gate_address& at) {
        return system->middleman().remote_actor(at.host, at.port);
      };
    }
    return [this](const runtime::gate_address& at) -> caf::expected<caf::actor> {
      auto fd = link->dial(at.host, at.port);
      if (auto* why = std::get_if<std::string>(&fd)) {
        return make_error(errc::unavailable, *why);
      }
      return runtime::connect_gate_over(*system, std::get<int>(fd), std::chrono::seconds(5));
    };
  }

  /// Opens the cluster port and serves the gate on it. Returns "" or why not.
  std::string open_cluster_port() {
    const auto& c = opts.cluster;
    if (!c.tls.configured()) {
      auto bound = system->middleman().publish(gate, c.cluster_port, c.host.c_str(), true);
      if (!bound) {
        return "cannot publish the node gate on " + c.host + ":" + std::to_string(c.cluster_port) +
               ": " + system->render(bound.error());
      }
      cluster_port = *bound;
      return "";
    }
    runtime::cluster_link_options lo;
    lo.host = c.host;
    lo.port = c.cluster_port;
    lo.tls = c.tls;
    auto started = runtime::cluster_link::start(
        lo, [sys = system.get(), g = gate](int fd) { runtime::serve_gate_over(*sys, fd, g); },
        [this](const std::string& peer, const std::string& why) { log_refusal(peer, why); });
    if (auto* error = std::get_if<std::string>(&started)) return "the cluster port: " + *error;
    link = std::move(std::get<std::unique_ptr<runtime::cluster_link>>(started));
    cluster_port = link->port();
    return "";
  }

  /// Logs a refused cluster peer: at most 10 lines a second (bursts of 20), then a count of
  /// those not logged, so that a flood of strangers cannot fill the disk.
  void log_refusal(const std::string& peer, const std::string& why) {
    constexpr runtime::rate_limit lines{10, 20};
    if (!refusal_log.try_take(lines, std::chrono::steady_clock::now())) {
      ++refusals_unlogged;
      return;
    }
    std::cerr << "parley: refused cluster peer " << peer << ": " << why;
    if (refusals_unlogged > 0) std::cerr << " (and " << refusals_unlogged << " more not logged)";
    std::cerr << "\n";
    refusals_unlogged = 0;
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    mover_stop = true;
    if (mover.joinable()) mover.join();
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
    link.reset();    // before the system: it hands connections to CAF
    gates.reset();   // stops the gate watcher (the router is shut down: nobody asks for gates)
    if (system) system->await_all_actors_done();
    gw.reset();
    router.reset();
    system.reset();
    committer.reset();
    db.reset();
  }
};

node::node(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

node::~node() {
  stop();
}

std::variant<std::unique_ptr<node>, std::string> node::start(node_options opts) {
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  auto& o = p->opts;
  // TLS libraries write to sockets with write(): a peer that hung up must give an error, not
  // a SIGPIPE that ends the node (Asio's own writes already use MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);

  if (auto st = store::create_private_dir(o.data_dir); !st.ok()) return st.message();

  std::string error;
  auto secret = runtime::load_or_create_secret(
      o.secret_file.empty() ? o.data_dir + "/secret" : o.secret_file, error);
  if (!secret) return error;
  p->tokens = std::make_unique<runtime::token_authority>(std::move(*secret));

  store::options so;
  so.dir = o.data_dir + "/db";
  so.shard_count = o.shard_count;
  so.faults = o.storage_faults;
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
  // An idle worker spins briefly, then blocks on its condition variable, which an enqueue from
  // another thread (the gateway, the committer) signals. CAF's default middle phase instead
  // sleeps 50 us at a time for ~25 ms, so a message arriving at a quiet node waited for the
  // end of a sleep: ~100 us of the unloaded latency (measured, docs/benchmarks.md).
  p->cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  p->cfg.set("logger.verbosity", caf::atom("quiet"));
  actors::register_message_types(p->cfg);
  if (clustered) {
    const auto& tls = o.cluster.tls;
    if (!tls.configured() && !o.cluster.insecure) {
      p->stop();
      return tls.partly_configured()
                 ? "the cluster port needs all of --cluster-ca, --cluster-cert and --cluster-key"
                 : "a clustered node needs TLS on its cluster port (--cluster-ca, --cluster-cert, "
                   "--cluster-key; `imctl cluster cert` makes them) or --insecure-cluster-port";
    }
    p->cfg.load<caf::io::middleman>();
    if (!tls.configured()) {
      std::cerr << "parley: WARNING: --insecure-cluster-port: anyone who reaches " << o.cluster.host
                << ":" << o.cluster.cluster_port << " can act as any user of this node\n";
    }
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
  p->user_rates = std::make_unique<runtime::keyed_rate_limiter>(o.actors.user_rate,
                                                                o.actors.max_rate_limited_users);
  p->svc.user_rates = p->user_rates.get();
  p->svc.counters = &p->counters;
  p->svc.inject_fault = o.inject_fault;
  std::function<bool()> serving;
  if (clustered) {
    p->gates = std::make_shared<runtime::gate_directory>(*p->system, p->gate_connector());
    serving = [raw = p.get()] { return raw->member && raw->member->serving(); };
  }
  p->router = std::make_unique<runtime::router>(
      *p->map, self_id, actors::make_entity_spawner(p->svc), p->gates.get(), std::move(serving));
  p->svc.router = p->router.get();
  if (clustered) {
    runtime::gate_hooks hooks;
    auto* raw = p.get();
    hooks.import = [raw](const runtime::shard_transfer& t) -> caf::error {
      auto st = raw->db->import_shard(t.shard, runtime::from_transfer(t));
      return st.ok() ? caf::error{} : make_error(errc::internal, "import: " + st.message());
    };
    hooks.apply_map = [raw](std::uint64_t epoch, std::vector<runtime::node_id> owners) {
      raw->cluster_map->apply(epoch, std::move(owners));
    };
    hooks.hello = [gates = std::weak_ptr<runtime::gate_directory>(p->gates)](
                      const runtime::node_id& node, std::int64_t incarnation,
                      const caf::actor& gate) {
      if (auto g = gates.lock()) g->introduce(node, incarnation, gate);
    };
    p->gate = runtime::spawn_node_gate(*p->system, *p->router, std::move(hooks));
    p->router->set_gate(p->gate);
    p->gates->set_own_gate(p->gate);
    if (auto error = p->open_cluster_port(); !error.empty()) {
      p->stop();
      return error;
    }
  }

  auto gateway_opts = o.gateway;
  if (gateway_opts.hubs == 0) gateway_opts.hubs = workers;
  p->gw = std::make_unique<gateway>(p->svc, gateway_opts);
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
        o.cluster, self, *p->cluster_map,
        [raw, self_id](const auto& nodes) {
          std::map<runtime::node_id, runtime::gate_address> where;
          for (auto& [id, n] : nodes) where[id] = {n.host, n.cluster_port, n.incarnation};
          raw->gates->update(where, self_id);
        },
        [raw] {
          auto& c = raw->counters;
          runtime::node_figures f;
          f.connections = c.connections.load();
          f.logins = c.logins.load();
          f.messages_sent = c.messages_sent.load();
          f.pushes = c.pushes.load();
          f.active_entities = raw->router->active_count();
          f.client_port = raw->port;
          return f;
        });
    if (auto err = p->member->start()) {
      p->stop();
      return "cannot join the cluster: " + classify(err).second;
    }
  }
  auto* raw = p.get();
  std::unique_ptr<node> result(new node(std::move(p)));
  raw->owner = result.get();
  if (clustered) {
    raw->mover = std::thread([raw] {
      runtime::etcd_client etcd(raw->opts.cluster.etcd, std::chrono::milliseconds(2000),
                                raw->opts.cluster.etcd_tls);
      while (!raw->mover_stop) {
        raw->move_step(etcd);
        for (int i = 0; i < 10 && !raw->mover_stop; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));  // pacing, not a sync
        }
      }
    });
  }
  return result;
}

void node::impl::move_step(runtime::etcd_client& etcd) {
  if (!member || !member->serving()) return;
  const auto owners = cluster_map->owners();
  if (owners.empty()) return;
  const runtime::cluster_layout keys(opts.cluster.prefix);
  auto drains = etcd.get_prefix(keys.drains());
  if (!drains) return;
  std::set<runtime::node_id> draining, members;
  for (auto& kv : *drains) draining.insert(runtime::cluster_layout::id_in(kv.key));
  for (auto& [id, info] : member->nodes()) members.insert(id);
  const auto step = runtime::next_rebalance_step(router->self(), owners, members, draining);
  if (step.what == runtime::rebalance_step::kind::drained) drained = true;
  if (step.what != runtime::rebalance_step::kind::move) return;
  const std::string error = owner->migrate_shard(step.shard, step.target);
  if (!error.empty()) {
    std::fprintf(stderr, "parley: moving shard %u to %s failed: %s\n", step.shard,
                 step.target.c_str(), error.c_str());
  }
}

std::uint16_t node::port() const {
  return impl_->port;
}

std::uint16_t node::cluster_port() const {
  return impl_->cluster_port;
}

std::uint64_t node::refused_cluster_peers() const {
  return impl_->link ? impl_->link->refused() : 0;
}

const std::string& node::id() const {
  return impl_->router ? impl_->router->self() : impl_->opts.cluster.self;
}

std::string node::endpoint() const {
  return impl_->opts.gateway.host + ":" + std::to_string(impl_->port);
}

std::string node::issue_token(const std::string& user, std::int64_t ttl_seconds) const {
  if (ttl_seconds > 0) return impl_->tokens->issue(user, std::chrono::seconds(ttl_seconds));
  // Already expired (tests): a one-second token issued long enough ago.
  const auto issued = std::chrono::system_clock::now() + std::chrono::seconds(ttl_seconds - 1);
  return impl_->tokens->issue(user, std::chrono::seconds(1), issued);
}

gateway_stats node::gateway_figures() const {
  return impl_->gw ? impl_->gw->stats() : gateway_stats{};
}

void node::kick_user(const std::string& user, const std::string& device,
                     const std::string& detail) {
  constexpr std::uint16_t kicked_by_app = 5;  // wire::KickReason::KICKED_BY_APP
  actors::kick_sessions(impl_->svc, user, device, kicked_by_app, detail);
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
  if (impl_->gates) s.reachable_peers = impl_->gates->reachable();
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

void node::stop() {
  impl_->stop();
}

bool node::drained() const {
  return impl_->drained.load();
}

void node::hold_map_updates(bool held) {
  if (impl_->cluster_map) impl_->cluster_map->hold(held);
}

std::vector<double> node::handoff_times_ms() const {
  std::lock_guard<std::mutex> guard(impl_->migrate_mu);
  return impl_->handoffs_ms;
}

std::string node::migrate_shard(std::uint32_t shard, const std::string& target) {
  auto& i = *impl_;
  std::lock_guard<std::mutex> guard(i.migrate_mu);
  if (!i.cluster_map || !i.member) return "not a cluster node";
  const std::string self = i.router->self();
  if (shard >= i.map->shard_count()) return "no shard " + std::to_string(shard);
  if (i.map->owner(shard) != self) return "shard " + std::to_string(shard) + " is not owned here";
  if (target == self) return "the shard is already here";
  caf::actor target_gate = i.gates->gate(target);
  if (!target_gate) return "node " + target + " is not reachable";

  const auto t0 = std::chrono::steady_clock::now();
  // 1. Stop serving the shard and drain its actors (they finish their writes, then quit).
  auto actors = i.router->begin_handoff(shard);
  caf::scoped_actor self_actor{*i.system};
  for (auto& a : actors) {
    self_actor->monitor(a);
    caf::anon_send(a, actors::drain_atom::value);
  }
  std::string failure;
  for (std::size_t n = 0; n < actors.size() && failure.empty(); ++n) {
    self_actor->receive([](caf::down_msg&) {},
                        caf::after(std::chrono::seconds(10)) >>
                            [&] { failure = "actors of the shard did not drain"; });
  }
  // 2. Export and ship.
  store::shard_export data;
  if (failure.empty()) {
    auto exported = i.db->export_shard(shard);
    if (!exported)
      failure = "export: " + exported.error().message();
    else
      data = std::move(*exported);
  }
  if (failure.empty()) {
    const auto t = runtime::to_transfer(shard, std::move(data));
    self_actor->request(target_gate, std::chrono::seconds(30), runtime::import_atom::value, t)
        .receive([](std::uint32_t) {},
                 [&](caf::error& err) {
                   failure = "import on " + target + ": " + classify(err).second;
                 });
  }
  // 3. Flip the map: compare-and-swap on its revision, epoch + 1.
  runtime::stored_shard_map flipped;
  if (failure.empty()) {
    runtime::etcd_client etcd(i.opts.cluster.etcd, std::chrono::milliseconds(2000),
                              i.opts.cluster.etcd_tls);
    auto moved = runtime::move_shard_owner(etcd, runtime::cluster_layout(i.opts.cluster.prefix),
                                           shard, self, target);
    if (auto* why = std::get_if<std::string>(&moved)) {
      failure = std::move(*why);
    } else {
      flipped = std::move(std::get<runtime::stored_shard_map>(moved));
    }
  }
  if (!failure.empty()) {
    i.router->finish_handoff(shard);  // still ours: serve it again, starting with what waited
    caf::anon_send(i.gate, runtime::resume_atom::value, shard);
    return failure;
  }
  // 4. Everybody follows the new map now (the target first: the map message reaches it before
  // any request we forward), then the parked requests go to the target, then the local copy
  // is dropped.
  i.router->finish_handoff(shard, [&] {
    i.cluster_map->apply(flipped.epoch, flipped.owners);
    caf::anon_send(target_gate, runtime::map_atom::value, flipped.epoch, flipped.owners);
    for (auto& [id, info] : i.member->nodes()) {
      auto g = id == target ? caf::actor{} : i.gates->gate(id);
      if (g) caf::anon_send(g, runtime::map_atom::value, flipped.epoch, flipped.owners);
    }
  });
  caf::anon_send(i.gate, runtime::resume_atom::value, shard);
  i.handoffs_ms.push_back(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  i.db->clear_shard(shard);  // best effort: a leftover copy is never read (not ours any more)
  return {};
}

}  // namespace parley::server
