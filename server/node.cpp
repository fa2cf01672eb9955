#include "parley/server/node.hpp"
#include "parley/schema/log.hpp"

#include "parley/runtime/cluster_errc.hpp"

#include "admin.hpp"
#include "app_port.hpp"
#include "http_port.hpp"
#include "metrics.hpp"

#include "cluster_part.hpp"
#include "parley/actors/hooks.hpp"

#include "parley/actors/entities.hpp"
#include "parley/actors/event_feed.hpp"
#include "parley/actors/messages.hpp"
#include "parley/actors/retention.hpp"
#include "parley/runtime/group_committer.hpp"
#include "parley/runtime/rate_limit.hpp"
#include "parley/runtime/router.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/runtime/token.hpp"
#include "parley/store/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

namespace parley::server {

struct node::impl {
  node_options opts;
  std::unique_ptr<store::store> db;
  std::unique_ptr<runtime::token_authority> tokens;
  std::unique_ptr<runtime::shard_map> local_map;  // a single node's (else the cluster's)
  std::unique_ptr<cluster_part> cluster;          // only in a cluster
  std::unique_ptr<runtime::group_committer> committer;
  actors::node_counters counters;
  // Before the actor system: actors read it until they stop.
  std::unique_ptr<actors::hook_table> hooks;
  std::unique_ptr<runtime::keyed_rate_limiter> user_rates;
  actors::services svc;
  // Runs the sockets and the actors (runtime/event_loop.hpp); outlives the actor system.
  std::unique_ptr<runtime::event_loop> loop;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<runtime::router> router;
  caf::actor sweeper;  // retention (actors/retention.hpp)
  std::unique_ptr<gateway> gw;
  std::unique_ptr<gateway> ws;  // the WebSocket listener, when enabled
  std::unique_ptr<server::app_port> app;
  std::unique_ptr<server::http_port> http;
  std::uint16_t port = 0;
  bool stopped = false;
  std::mutex backup_mu;

  runtime::shard_map& map() const { return cluster ? cluster->map() : *local_map; }

  std::string metrics_text() const {
    detail_figures d;
    d.send_ack = counters.send_ack_us.read();
    if (committer) {
      d.commit_write = committer->write_latency();
      d.group_batches = committer->group_sizes();
    }
    if (db) d.engine = db->figures();
    if (router) d.actors = actors::take_census(*router);
    return prometheus_text(router ? router->self() : "", stats(),
                           gw ? gw->stats() : gateway_stats{}, ws ? ws->stats() : gateway_stats{},
                           d);
  }

  node_stats stats() const {
    node_stats s;
    auto& c = counters;
    s.connections = c.connections.load();
    s.logins = c.logins.load();
    s.messages_sent = c.messages_sent.load();
    s.messages_expired = c.messages_expired.load();
    s.pushes = c.pushes.load();
    s.bad_frames = c.bad_frames.load();
    for (std::size_t i = 0; i < actors::login_refusal_kinds; ++i) {
      s.logins_refused[i] = c.logins_refused[i].load();
    }
    if (router) s.active_entities = router->active_count();
    if (router) {
      const auto& m = map();
      s.map_epoch = m.epoch();
      for (std::uint32_t i = 0; i < m.shard_count(); ++i) {
        if (m.owner(i) == router->self()) ++s.owned_shards;
      }
    }
    if (cluster) {
      s.reachable_peers = cluster->reachable_peers();
      s.serving = cluster->serving();
      s.coordinating = cluster->coordinating();
      s.shard_moves = cluster->shards_moved();
      for (double ms : cluster->handoff_times_ms())
        s.shard_move_ms += static_cast<std::uint64_t>(ms);
    }
    if (committer) {
      auto cs = committer->stats();
      s.commit_groups = cs.groups;
      s.commit_batches = cs.batches;
    }
    return s;
  }

  /// What the app port reports (cluster.status). Any thread.
  /// A backup under opts.backup_dir, shaped as a data dir: <node>-<UTC time>/db (a RocksDB
  /// checkpoint) and /secret. One at a time. Any thread.
  result<std::string> backup() {
    std::lock_guard<std::mutex> guard(backup_mu);
    namespace fs = std::filesystem;
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm utc{};
    gmtime_r(&t, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &utc);
    const std::string millis = std::to_string(1000 + ms).substr(1);  // 3 digits
    const std::string dir = opts.backup_dir + "/" +
                            (router ? router->self() : std::string("node")) + "-" + stamp + "." +
                            millis + "Z";
    std::error_code ec;
    if (fs::exists(dir, ec)) return error(store::errc::busy, "a backup of that moment exists");
    if (auto err = store::create_private_dir(dir)) return err;
    if (auto err = db->checkpoint(dir + "/db")) return err;
    const std::string secret =
        opts.secret_file.empty() ? opts.data_dir + "/secret" : opts.secret_file;
    fs::copy_file(secret, dir + "/secret", ec);
    if (!ec) fs::permissions(dir + "/secret", fs::perms::owner_read | fs::perms::owner_write, ec);
    if (ec) return error(store::errc::io_error, "cannot copy the secret into " + dir);
    return dir;
  }

  node_view view() const {
    node_view v;
    v.node = router ? router->self() : opts.cluster.self;
    v.stats = stats();
    if (router) {
      const auto& m = map();
      for (std::uint32_t i = 0; i < m.shard_count(); ++i) v.owners.push_back(m.owner(i));
    }
    return v;
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    if (cluster) cluster->stop_mover();
    // Outside in: no new requests, then no new writes, then no actors, then no store.
    http.reset();  // before what its handlers read
    app.reset();   // its kj thread ends; calls waiting for an entity are dropped
    if (gw) gw->stop();
    if (ws) ws->stop();
    if (sweeper) caf::anon_send_exit(sweeper, caf::exit_reason::user_shutdown);
    if (cluster) cluster->leave();  // graceful leave: revoke the lease
    if (committer) committer->stop();
    if (router) {
      for (auto& a : router->shut_down()) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
    if (cluster) cluster->close();
    if (system) system->await_all_actors_done();
    gw.reset();
    ws.reset();
    router.reset();
    cluster.reset();
    system.reset();
    if (loop) loop->stop();
    committer.reset();
    db.reset();
  }
};

node::node(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

node::~node() {
  stop();
}

result<std::unique_ptr<node>> node::start(node_options opts) {
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  auto& o = p->opts;
  // TLS libraries write to sockets with write(): a peer that hung up must give an error, not
  // a SIGPIPE that ends the node (Asio's own writes already use MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);

  if (auto err = store::create_private_dir(o.data_dir)) return err;

  auto secret = runtime::load_or_create_secret(o.secret_file.empty() ? o.data_dir + "/secret"
                                                                     : o.secret_file);
  if (!secret) return secret.error();
  p->tokens = std::make_unique<runtime::token_authority>(std::move(*secret));

  store::options so;
  so.dir = o.data_dir + "/db";
  so.shard_count = o.shard_count;
  so.faults = o.storage_faults;
  auto db = store::store::open(so);
  if (!db) return db.error().context("cannot open store");
  p->db = std::move(*db);

  if (o.unsafe_no_fsync) {
    log::warn("unsafe_no_fsync", {{"detail",
                                   "acks do not wait for fsync; a power cut can lose "
                                   "acknowledged messages. For benchmarks only."}});
  }
  runtime::committer_options co;
  co.durability = o.unsafe_no_fsync ? store::durability::buffered : store::durability::synced;
  co.min_sync_interval = o.min_sync_interval;
  p->committer = std::make_unique<runtime::group_committer>(*p->db, co);

  const bool clustered = !o.cluster.etcd.empty();
  const std::string self_id = clustered ? o.cluster.self : "local";

  const std::size_t workers =
      o.worker_threads ? o.worker_threads : std::max(1u, std::thread::hardware_concurrency());
  p->loop = std::make_unique<runtime::event_loop>(workers);
  p->loop->host_actors(p->cfg);
  p->cfg.set("logger.verbosity", caf::atom("quiet"));
  actors::register_message_types(p->cfg);
  if (clustered) {
    if (auto err = cluster_part::configure(o.cluster, p->cfg)) {
      p->stop();
      return err;
    }
    p->cluster = std::make_unique<cluster_part>(o.cluster, p->db->shard_count());
  } else {
    p->local_map = std::make_unique<runtime::local_shard_map>(self_id, p->db->shard_count());
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
  p->hooks = std::make_unique<actors::hook_table>(self_id);
  p->svc.hooks = p->hooks.get();
  p->svc.inject_fault = o.inject_fault;
  if (p->cluster) p->cluster->attach(*p->system);
  p->router = std::make_unique<runtime::router>(
      p->map(), self_id, actors::make_entity_spawner(p->svc),
      p->cluster ? p->cluster->directory() : nullptr,
      p->cluster ? p->cluster->serving_check() : std::function<bool()>{});
  p->svc.router = p->router.get();
  // New events wake the event feeds waiting for them (actors/event_feed.hpp).
  p->db->on_new_events(
      [svc = &p->svc](std::uint32_t shard) { actors::wake_event_feeds(*svc, shard); });
  if (p->cluster) {
    auto* raw = p.get();
    cluster_part::peer_layer peers;
    peers.handle = [raw](caf::message& m) { return actors::on_peer_message(*raw->hooks, m); };
    peers.connected = [raw](const caf::actor& gate) { actors::tell_peer(*raw->hooks, gate); };
    p->svc.peer_gates = [raw] { return raw->cluster->peer_gates(); };
    if (auto err = p->cluster->open(*p->router, *p->db, std::move(peers))) {
      p->stop();
      return err;
    }
  }

  p->sweeper = actors::spawn_retention_sweeper(p->svc);

  auto gateway_opts = o.gateway;
  if (gateway_opts.hubs == 0) gateway_opts.hubs = workers;
  p->gw = std::make_unique<gateway>(p->svc, gateway_opts, *p->loop);
  auto port = p->gw->start();
  if (!port) {
    p->stop();
    return port.error();
  }
  p->port = *port;
  if (o.app_enabled) {
    auto* raw = p.get();
    auto app = server::app_port::start(p->svc, o.app, [raw] { return raw->view(); });
    if (!app) {
      p->stop();
      return app.error();
    }
    p->app = std::move(*app);
  }
  if (o.http_enabled) {
    auto* raw = p.get();
    server::http_port::handlers h;
    h.metrics = [raw] { return raw->metrics_text(); };
    h.ready = [raw] { return raw->stats().serving; };
    h.admin = [raw](const http_port::api_request& req) {
      admin::context ctx{raw->svc, [raw] { return raw->view(); }, raw->cluster.get(), {}};
      if (!raw->opts.backup_dir.empty()) ctx.backup = [raw] { return raw->backup(); };
      return admin::handle(ctx, req);
    };
    h.web_config = [raw] {
      return "{\"wsPort\": " + std::to_string(raw->ws ? raw->ws->port() : 0) + "}";
    };
    auto http = server::http_port::start(o.http, std::move(h));
    if (!http) {
      p->stop();
      return http.error();
    }
    p->http = std::move(*http);
  }
  if (o.websocket_enabled) {
    auto ws_opts = gateway_opts;  // the same limits and TLS as the client port
    ws_opts.host = o.websocket.host;
    ws_opts.port = o.websocket.port;
    ws_opts.websocket = true;
    ws_opts.websocket_origins = o.websocket.origins;
    if (p->http) {  // the node's own web pages may always connect
      const auto http_port = std::to_string(p->http->port());
      for (const char* host : {"127.0.0.1", "localhost", "[::1]"}) {
        ws_opts.websocket_origins.push_back(std::string("http://") + host + ":" + http_port);
      }
      ws_opts.websocket_origins.push_back("http://" + o.http.host + ":" + http_port);
    }
    p->ws = std::make_unique<gateway>(p->svc, ws_opts, *p->loop);
    auto ws_port = p->ws->start();
    if (!ws_port) {
      p->stop();
      return ws_port.error();
    }
  }
  if (p->cluster) {
    const std::string http =
        p->http ? o.http.host + ":" + std::to_string(p->http->port()) : std::string();
    if (auto err = p->cluster->join(p->port, http)) {
      p->stop();
      return err;
    }
  }
  return std::unique_ptr<node>(new node(std::move(p)));
}

std::uint16_t node::port() const {
  return impl_->port;
}

std::uint16_t node::app_port() const {
  return impl_->app ? impl_->app->port() : 0;
}

std::uint16_t node::websocket_port() const {
  return impl_->ws ? impl_->ws->port() : 0;
}

std::uint16_t node::http_port() const {
  return impl_->http ? impl_->http->port() : 0;
}

std::string node::metrics() const {
  return impl_->metrics_text();
}

std::uint16_t node::cluster_port() const {
  return impl_->cluster ? impl_->cluster->port() : 0;
}

std::uint64_t node::refused_cluster_peers() const {
  return impl_->cluster ? impl_->cluster->refused_peers() : 0;
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
  return impl_->stats();
}

void node::stop() {
  impl_->stop();
}

bool node::drained() const {
  return impl_->cluster && impl_->cluster->drained();
}

void node::hold_map_updates(bool held) {
  if (impl_->cluster) impl_->cluster->hold_map_updates(held);
}

std::vector<double> node::handoff_times_ms() const {
  return impl_->cluster ? impl_->cluster->handoff_times_ms() : std::vector<double>{};
}

error node::migrate_shard(std::uint32_t shard, const std::string& target) {
  if (!impl_->cluster) return {runtime::cluster_errc::unsupported, "not a cluster node"};
  return impl_->cluster->migrate_shard(shard, target);
}

}  // namespace parley::server
