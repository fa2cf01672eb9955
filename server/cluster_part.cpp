#include "cluster_part.hpp"
#include "parley/schema/log.hpp"

#include "parley/actors/messages.hpp"
#include "parley/runtime/basp_sockets.hpp"
#include "parley/runtime/cluster_errc.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/rebalance.hpp"
#include "parley/runtime/router.hpp"
#include "parley/store/store.hpp"

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>

namespace parley::server {

using runtime::cluster_errc;

namespace {

/// "0-15,17,20-21": shard numbers (ascending) for a log line.
std::string describe_shards(const std::vector<std::uint32_t>& shards) {
  std::string out;
  for (std::size_t i = 0; i < shards.size();) {
    std::size_t j = i;
    while (j + 1 < shards.size() && shards[j + 1] == shards[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(shards[i]);
    if (j > i) out += '-' + std::to_string(shards[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

error cluster_part::configure(const runtime::cluster_options& o, caf::actor_system_config& cfg) {
  const auto& tls = o.tls;
  if (!tls.configured() && !o.insecure) {
    return {cluster_errc::bad_config,
            tls.partly_configured()
                ? "the cluster port needs all of --cluster-ca, --cluster-cert and --cluster-key"
                : "a clustered node needs TLS on its cluster port (--cluster-ca, --cluster-cert, "
                  "--cluster-key; `imctl cluster cert` makes them) or --insecure-cluster-port"};
  }
  cfg.load<caf::io::middleman>();
  if (!tls.configured()) {
    log::warn("insecure_cluster_port",
              {{"address", o.host + ":" + std::to_string(o.cluster_port)},
               {"detail", "anyone who reaches it can act as any user of this node"}});
  }
  // Detect a frozen peer too, not only a closed connection (see stack notes).
  cfg.set("middleman.heartbeat-interval", caf::timespan(std::chrono::milliseconds(200)));
  cfg.set("middleman.connection-timeout", caf::timespan(std::chrono::seconds(1)));
  return {};
}

cluster_part::cluster_part(runtime::cluster_options o, std::uint32_t shard_count)
    : opts_(std::move(o)), map_(shard_count) {}

cluster_part::~cluster_part() {
  stop_mover();
  leave();
  close();
}

void cluster_part::attach(caf::actor_system& system) {
  system_ = &system;
  gates_ = std::make_shared<runtime::gate_directory>(system, gate_connector());
}

std::function<bool()> cluster_part::serving_check() {
  return [this] { return serving(); };
}

runtime::gate_directory::connector cluster_part::gate_connector() {
  if (!opts_.tls.configured()) {
    return [this](const runtime::gate_address& at) -> result<caf::actor> {
      auto gate = system_->middleman().remote_actor(at.host, at.port);
      if (!gate) {
        return {cluster_errc::peer_unreachable, "cannot reach the gate at " + at.host + ":" +
                                                    std::to_string(at.port) + ": " +
                                                    system_->render(gate.error())};
      }
      return *gate;
    };
  }
  return [this](const runtime::gate_address& at) -> result<caf::actor> {
    // A BASP handshake that fails over a good tunnel (see basp_sockets.cpp) is tried once more
    // at once: the directory's next try would be a second away.
    result<caf::actor> gate{cluster_errc::peer_unreachable, "not dialled"};
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto fd = link_->dial(at.host, at.port);
      if (!fd) return fd.error();
      gate = runtime::connect_gate_over(*system_, *fd, std::chrono::seconds(5));
      if (gate) break;
    }
    return gate;
  };
}

error cluster_part::open(runtime::router& router, store::store& db, peer_layer peers) {
  router_ = &router;
  db_ = &db;
  runtime::gate_hooks hooks;
  hooks.import = [this](const runtime::shard_transfer& t) -> error {
    if (auto err = db_->import_shard(t.shard, runtime::from_transfer(t))) {
      return err.context("import of shard " + std::to_string(t.shard));
    }
    return {};
  };
  hooks.apply_map = [this](std::uint64_t epoch, std::vector<runtime::node_id> owners) {
    map_.apply(epoch, std::move(owners));
  };
  hooks.hello = [gates = std::weak_ptr<runtime::gate_directory>(gates_)](
                    const runtime::node_id& node, std::int64_t incarnation,
                    const caf::actor& gate) {
    if (auto g = gates.lock()) g->introduce(node, incarnation, gate);
  };
  hooks.peer = std::move(peers.handle);
  gates_->on_connect(std::move(peers.connected));
  gate_ = runtime::spawn_node_gate(*system_, router, std::move(hooks));
  router.set_gate(gate_);
  gates_->set_own_gate(gate_);
  return open_port();
}

error cluster_part::open_port() {
  const auto& c = opts_;
  if (!c.tls.configured()) {
    auto bound = system_->middleman().publish(gate_, c.cluster_port, c.host.c_str(), true);
    if (!bound) {
      return {cluster_errc::cannot_listen, "cannot publish the node gate on " + c.host + ":" +
                                               std::to_string(c.cluster_port) + ": " +
                                               system_->render(bound.error())};
    }
    port_ = *bound;
    return {};
  }
  runtime::cluster_link_options lo;
  lo.host = c.host;
  lo.port = c.cluster_port;
  lo.tls = c.tls;
  auto started = runtime::cluster_link::start(
      lo, [sys = system_, g = gate_](int fd) { runtime::serve_gate_over(*sys, fd, g); },
      [this](const std::string& peer, const std::string& why) { log_refusal(peer, why); });
  if (!started) return started.error().context("the cluster port");
  link_ = std::move(*started);
  port_ = link_->port();
  return {};
}

void cluster_part::log_refusal(const std::string& peer, const std::string& why) {
  log::write_limited(log::level::warn, "cluster_peer_refused", {{"peer", peer}, {"reason", why}});
}

error cluster_part::join(std::uint16_t client_port, const std::string& http) {
  runtime::node_info self{opts_.self, opts_.host, port_, client_port, 0, http};
  member_ = std::make_unique<runtime::cluster_member>(opts_, self, map_, [this](const auto& nodes) {
    std::map<runtime::node_id, runtime::gate_address> where;
    for (auto& [id, n] : nodes) where[id] = {n.host, n.cluster_port, n.incarnation};
    gates_->update(where, opts_.self);
  });
  if (auto err = member_->start()) return err.context("cannot join the cluster");
  mover_ = std::thread([this] {
    runtime::etcd_client etcd(opts_.etcd, std::chrono::milliseconds(2000), opts_.etcd_tls);
    while (!mover_stop_) {
      if (move_step(etcd)) continue;  // there may be more to do at once
      for (int i = 0; i < 10 && !mover_stop_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // pacing, not a sync
      }
    }
  });
  return {};
}

bool cluster_part::move_step(runtime::etcd_client& etcd) {
  if (!serving()) return false;
  const auto owners = map_.owners();
  if (owners.empty()) return false;
  // Members and drain marks from one read of the cluster's keys, so that they agree: a drained
  // node leaves (its node key goes) before it withdraws its drain mark, and a read of the two
  // at different moments could see it as a member that no longer drains, and plan a move to a
  // node that is stopping (its import never answered: shards held for the request's 30 s).
  const runtime::cluster_layout keys(opts_.prefix);
  auto all = etcd.get_prefix(opts_.prefix + "/");
  if (!all) return false;
  std::set<runtime::node_id> draining, members;
  for (auto& kv : *all) {
    if (kv.key.rfind(keys.drains(), 0) == 0)
      draining.insert(runtime::cluster_layout::id_in(kv.key));
    if (kv.key.rfind(keys.nodes(), 0) == 0) members.insert(runtime::cluster_layout::id_in(kv.key));
  }
  const auto plan = runtime::plan_rebalance(opts_.self, owners, members, draining, owners.size());
  if (plan.drained) drained_ = true;
  // One batch, then a fresh plan (the mover plans again at once): a plan's later batches
  // would otherwise go out on a picture of the members that is seconds old. (A failure is
  // logged by migrate_shards; the next plan starts from the map as it is.)
  if (plan.batches.empty() || mover_stop_) return false;
  const auto& batch = plan.batches.front();
  const bool moved = !migrate_shards(batch.shards, batch.target);
  // A drain goes on at once. A join rebalance waits for the next tick, so that every node's
  // map has caught up with the moves of the others before it plans again: planning at once on
  // a map that lacks them overshot (a joining node got all 6 shards of bench/cluster_scenario,
  // then gave them back, and sends waited through the churn).
  return moved && draining.count(opts_.self) > 0;
}

error cluster_part::migrate_shard(std::uint32_t shard, const std::string& target) {
  return migrate_shards({shard}, target);
}

error cluster_part::migrate_shards(const std::vector<std::uint32_t>& shards,
                                   const std::string& target) {
  using clock = std::chrono::steady_clock;
  std::lock_guard<std::mutex> guard(migrate_mu_);
  if (!member_ || !router_) return {cluster_errc::unsupported, "not a cluster node"};
  const std::string& self = opts_.self;
  if (shards.empty()) return {};
  for (const std::uint32_t shard : shards) {
    if (shard >= map_.shard_count()) {
      return {cluster_errc::bad_config, "no shard " + std::to_string(shard)};
    }
    if (map_.owner(shard) != self) {
      return {cluster_errc::not_owner, "shard " + std::to_string(shard) + " is not owned here"};
    }
  }
  if (target == self) return {cluster_errc::not_owner, "the shard is already here"};
  caf::actor target_gate = gates_->gate(target);
  if (!target_gate) return {cluster_errc::peer_unreachable, "node " + target + " is not reachable"};

  const auto t0 = clock::now();
  const auto ms_since = [](clock::time_point t) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count());
  };
  // 1. Stop serving the shards and drain their actors (they finish their writes, then quit),
  // all at once.
  std::vector<caf::actor> actors;
  for (const std::uint32_t shard : shards) {
    for (auto& a : router_->begin_handoff(shard)) actors.push_back(std::move(a));
  }
  caf::scoped_actor self_actor{*system_};
  for (auto& a : actors) {
    self_actor->monitor(a);
    caf::anon_send(a, actors::drain_atom::value);
  }
  error failure;
  for (std::size_t n = 0; n < actors.size() && !failure; ++n) {
    self_actor->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(10)) >>
                                                   [&] {
                                                     failure =
                                                         error(cluster_errc::move_failed,
                                                               "actors of the shard did not drain");
                                                   });
  }
  const long drain_ms = ms_since(t0);
  // 2. Export and ship, one shard after another, while the handoff stays short: a shard
  // started after the budget is spent (time or bytes) is served here again and comes in the
  // next plan. Empty shards all go at once; large ones one at a time.
  const auto ship_start = clock::now();
  std::vector<std::uint32_t> shipped;
  std::vector<std::uint64_t> imports_before;  // by position in `shards`, as shipping went
  std::uint64_t shipped_bytes = 0;
  for (const std::uint32_t shard : shards) {
    if (failure) break;
    if (!shipped.empty() &&
        (clock::now() - t0 > handoff_budget || shipped_bytes > handoff_byte_budget)) {
      break;
    }
    imports_before.push_back(db_->imports_of(shard));
    auto exported = db_->export_shard(shard);
    if (!exported) {
      failure = exported.error().context("export of shard " + std::to_string(shard));
      break;
    }
    const auto t = runtime::to_transfer(shard, std::move(*exported));
    for (const auto& file : t.bytes) shipped_bytes += file.size();
    self_actor->request(target_gate, std::chrono::seconds(30), runtime::import_atom::value, t)
        .receive([&](std::uint32_t) { shipped.push_back(shard); },
                 [&](caf::error& err) {
                   failure = error(cluster_errc::move_failed,
                                   "import on " + target + ": " + from_caf(err).describe());
                 });
  }
  const long ship_ms = ms_since(ship_start);
  // 3. Flip the map for what was shipped: one compare-and-swap on its revision, epoch + 1.
  const auto flip_start = clock::now();
  runtime::stored_shard_map flipped;
  if (!shipped.empty()) {
    runtime::etcd_client etcd(opts_.etcd, std::chrono::milliseconds(2000), opts_.etcd_tls);
    auto moved = runtime::move_shards_owner(etcd, runtime::cluster_layout(opts_.prefix), shipped,
                                            self, target);
    if (moved) {
      flipped = std::move(*moved);
    } else {
      failure = moved.error();
      shipped.clear();  // still ours, all of them
    }
  }
  const long flip_ms = ms_since(flip_start);
  // 4. Everybody follows the new map now (the target first: the map message reaches it before
  // any request we forward), then the parked requests go to the target. The map flips under
  // the first shard's lock; the others stay parked until their own finish_handoff. Shards not
  // shipped are served here again, starting with what waited.
  for (const std::uint32_t shard : shards) {
    const bool first = !shipped.empty() && shard == shipped.front();
    router_->finish_handoff(
        shard, first ? std::function<void()>([&] {
          map_.apply(flipped.epoch, flipped.owners);
          caf::anon_send(target_gate, runtime::map_atom::value, flipped.epoch, flipped.owners);
          for (auto& [id, info] : member_->nodes()) {
            auto g = id == target ? caf::actor{} : gates_->gate(id);
            if (g) caf::anon_send(g, runtime::map_atom::value, flipped.epoch, flipped.owners);
          }
        })
                     : std::function<void()>{});
    caf::anon_send(gate_, runtime::resume_atom::value, shard);
  }
  if (!shipped.empty()) {
    handoffs_.push_back(
        {shipped.size(), std::chrono::duration<double, std::milli>(clock::now() - t0).count()});
    log::info("shard_moved", {{"shards", describe_shards(shipped)},
                              {"to", target},
                              {"actors", std::to_string(actors.size())},
                              {"bytes", std::to_string(shipped_bytes)},
                              {"drain_ms", std::to_string(drain_ms)},
                              {"ship_ms", std::to_string(ship_ms)},
                              {"flip_ms", std::to_string(flip_ms)},
                              {"ms", std::to_string(ms_since(t0))}});
  }
  // Drop the copies here, unless a shard has already come back (imported again since it was
  // exported: then the data here is its own). `shipped` is a prefix of `shards`.
  for (std::size_t i = 0; i < shipped.size(); ++i) {
    ignore(db_->clear_shard(shipped[i], imports_before[i]),
           "best effort: a leftover copy is never read (the shard is not ours)");
  }
  if (failure) {
    const std::vector<std::uint32_t> kept(shards.begin() + shipped.size(), shards.end());
    log::error("shard_move_failed",
               {{"shards", describe_shards(kept)}, {"to", target}, {"detail", failure.describe()}});
  }
  return failure;
}

std::vector<double> cluster_part::handoff_times_ms() const {
  std::lock_guard<std::mutex> guard(migrate_mu_);
  std::vector<double> ms;
  for (const auto& h : handoffs_) ms.push_back(h.ms);
  return ms;
}

std::uint64_t cluster_part::shards_moved() const {
  std::lock_guard<std::mutex> guard(migrate_mu_);
  std::uint64_t n = 0;
  for (const auto& h : handoffs_) n += h.shards;
  return n;
}

void cluster_part::stop_mover() {
  mover_stop_ = true;
  if (mover_.joinable()) mover_.join();
}

error cluster_part::request_drain(const std::string& node) {
  const auto members = member_ids();
  if (std::find(members.begin(), members.end(), node) == members.end()) {
    return {cluster_errc::bad_config, "no member " + node};
  }
  runtime::etcd_client etcd(opts_.etcd, std::chrono::milliseconds(2000), opts_.etcd_tls);
  if (auto err = etcd.put(runtime::cluster_layout(opts_.prefix).drain(node), "1")) {
    return err.context("cannot write the drain request");
  }
  log::info("drain_requested", {{"node", node}});
  return {};
}

std::vector<std::string> cluster_part::member_ids() const {
  std::vector<std::string> ids;
  if (!member_) return ids;
  for (auto& [id, info] : member_->nodes()) ids.push_back(id);
  return ids;
}

void cluster_part::leave() {
  if (!member_) return;
  // Leave first (the node key goes with the lease), then withdraw the drain mark: the other
  // way round, the others would for a moment see a member that no longer drains and owns
  // nothing, and give it shards as it stops.
  member_->stop();
  if (drained_.load()) {
    runtime::etcd_client etcd(opts_.etcd, std::chrono::milliseconds(2000), opts_.etcd_tls);
    if (auto err = etcd.erase(runtime::cluster_layout(opts_.prefix).drain(opts_.self))) {
      log::warn("drain_request_left", {{"detail", err.describe()}});
    }
  }
}

void cluster_part::close() {
  if (gate_) caf::anon_send_exit(gate_, caf::exit_reason::user_shutdown);
  gate_ = nullptr;
  member_.reset();  // before the gates: its callback updates them
  link_.reset();    // before the actor system: it hands connections to CAF
  gates_.reset();   // stops the gate watcher (the router is shut down: nobody asks for gates)
}

}  // namespace parley::server
