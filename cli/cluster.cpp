// imctl cluster start / node start / cluster status.
//
// `cluster start` without --nodes runs one node with the embedded shard map (no etcd).
// `cluster start --nodes N` starts an etcd (Debian's etcd-server, loopback, data under the
// cluster dir) unless --etcd names one, then N `imctl node start` child processes on
// consecutive ports, all sharing <dir>/secret and talking over mutual TLS with a CA and node
// certificates made once in <dir>/tls; Ctrl-C stops them all.

#include "commands.hpp"
#include "parley/schema/log.hpp"
#include "scrape.hpp"

#include "app_rpc.hpp"
#include "parley/runtime/token.hpp"

#include "parley/runtime/cluster.hpp"
#include "parley/runtime/cluster_tls.hpp"
#include "parley/runtime/etcd.hpp"
#include "parley/runtime/etcd_process.hpp"
#include "parley/server/node.hpp"
#include "parley/store/store.hpp"

#include <nlohmann/json.hpp>

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

namespace parley::cli {

namespace {

void raise_descriptor_limit() {
  // Sockets are descriptors: use all the process may have (the hard limit).
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit(RLIMIT_NOFILE, &fds);  // best effort: on failure the node runs with fewer
  }
}

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

/// Runs one node in the foreground until SIGINT/SIGTERM.
int run_node(const server::node_options& o) {
  raise_descriptor_limit();
  sigset_t signals = block_stop_signals();  // before any thread starts
  auto started = server::node::start(o);
  if (!started) {
    std::cerr << "imctl: " << started.error().message() << "\n";
    return 1;
  }
  auto& n = **started;
  if (o.cluster.etcd.empty()) {
    std::cout << "parley: node listening on " << n.endpoint() << " (data dir " << o.data_dir
              << ", single node, embedded shard map)" << std::endl;
  } else {
    std::cout << "parley: node " << n.id() << " listening on " << n.endpoint() << " (cluster port "
              << n.cluster_port() << ", etcd " << o.cluster.etcd << ", data dir " << o.data_dir
              << ")" << std::endl;
  }
  if (n.app_port() != 0) {
    std::cout << "parley: app RPC on " << o.app.host << ":" << n.app_port() << std::endl;
  }
  if (n.http_port() != 0) {
    std::cout << "parley: metrics on http://" << o.http.host << ":" << n.http_port() << "/metrics"
              << std::endl;
    if (!o.http.web_root.empty()) {
      std::cout << "parley: web chat on http://" << o.http.host << ":" << n.http_port()
                << "/ and admin page on http://" << o.http.host << ":" << n.http_port()
                << "/admin.html" << std::endl;
    }
  }
  if (n.websocket_port() != 0) {
    std::cout << "parley: WebSocket clients on ws://" << o.websocket.host << ":"
              << n.websocket_port() << "/" << std::endl;
  }
  log::info("node_started",
            {{"node", n.id()},
             {"client", n.endpoint()},
             {"app_port", std::to_string(n.app_port())},
             {"http_port", std::to_string(n.http_port())},
             {"ws_port", std::to_string(n.websocket_port())},
             {"cluster", o.cluster.etcd.empty() ? "single node" : o.cluster.etcd},
             {"data_dir", o.data_dir},
             {"fsync", o.unsafe_no_fsync
                           ? "off"
                           : "on, at most every " + std::to_string(o.min_sync_interval.count()) +
                                 " us while writes overlap"},
             {"tls", o.gateway.tls_cert_file.empty() ? "off" : "on"},
             {"max_connections", std::to_string(o.gateway.max_connections)},
             {"direct_messages", o.actors.friends_only_direct_messages ? "friends" : "open"}});
  // Wait for Ctrl-C / SIGTERM, or for a requested drain to finish.
  const timespec period{0, 200 * 1000 * 1000};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &period);
    if (sig == SIGINT || sig == SIGTERM) {
      std::cout << "parley: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping"
                << std::endl;
      break;
    }
    if (n.drained()) {
      std::cout << "parley: drained (all shards moved away), stopping" << std::endl;
      break;
    }
  }
  log::info("node_stopping", {{"node", n.id()}});
  n.stop();
  std::cout << "parley: stopped" << std::endl;
  log::info("node_stopped", {{"node", n.id()}});
  return 0;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log = "") {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed imctl leaves no node running
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  if (!log.empty()) {
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    FILE* err = std::freopen(log.c_str(), "a", stderr);
    (void)out;
    (void)err;
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  std::perror("imctl: exec");
  _exit(127);
}

/// --etcd-ca/--etcd-cert/--etcd-key: TLS to an https:// etcd endpoint.
void add_etcd_tls_options(CLI::App& cmd, runtime::tls_identity& tls) {
  cmd.add_option("--etcd-ca", tls.ca_file, "PEM: the CA of etcd's certificate (https endpoint)");
  cmd.add_option("--etcd-cert", tls.cert_file, "PEM: client certificate for etcd");
  cmd.add_option("--etcd-key", tls.key_file, "PEM: client key for etcd");
}

void add_log_options(CLI::App& cmd) {
  cmd.add_option_function<std::string>(
         "--log-level", [](const std::string& name) { log::set_level(*log::parse_level(name)); },
         "Lowest level of the operator log on stderr: debug (also connects, logins, kicks), "
         "info, warn, error (default info)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd.add_option_function<std::string>(
         "--log-format", [](const std::string& name) { log::set_format(*log::parse_format(name)); },
         "text (default) or json: one object per line")
      ->check(CLI::IsMember({"text", "json"}));
}

/// The web pages the build made (build/web/site, beside build/cli where imctl is), or "" if
/// there are none (built without node).
std::string built_web_root() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const auto site = exe.parent_path().parent_path() / "web" / "site";
  return std::filesystem::is_regular_file(site / "index.html", ec) ? site.string() : "";
}

void add_node_options(CLI::App& cmd, server::node_options& o) {
  add_log_options(cmd);
  cmd.add_option("--data-dir", o.data_dir, "Data directory (created if missing)")
      ->capture_default_str();
  cmd.add_option("--host", o.gateway.host, "Client listen address")->capture_default_str();
  cmd.add_option("--port", o.gateway.port, "Client listen port (0: any free port)")
      ->capture_default_str();
  cmd.add_option("--shards", o.shard_count, "Shards of a new data dir")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--workers", o.worker_threads,
                 "Threads running the sockets and the actors (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  cmd.add_option("--secret-file", o.secret_file, "Token secret (default <data-dir>/secret)");
  // The app port (docs/ARCHITECTURE.md, App port): on by default, 1000 above the client port
  // (7420 -> 8420; a local cluster's nodes 7420.. get 8420..), any free port with --port 0.
  o.app_enabled = true;
  auto app_port = std::make_shared<int>(-1);
  cmd.add_option("--app-port", *app_port, "App RPC port (default: --port + 1000; 0: any free port)")
      ->check(CLI::Range(0, 65535));
  cmd.add_option("--app-host", o.app.host, "App RPC listen address (keep it private)")
      ->capture_default_str();
  cmd.add_flag_callback(
      "--no-app-port", [&o] { o.app_enabled = false; }, "Serve no app RPC port");
  // The HTTP port for operators (/metrics, /healthz, /readyz): on by default, 2000 above the
  // client port, loopback.
  o.http_enabled = true;
  auto http_port = std::make_shared<int>(-1);
  cmd.add_option("--http-port", *http_port,
                 "HTTP port for /metrics, /healthz, /readyz (default: --port + 2000; 0: any free)")
      ->check(CLI::Range(0, 65535));
  cmd.add_option("--http-host", o.http.host, "HTTP listen address")->capture_default_str();
  cmd.add_flag_callback(
      "--no-http-port", [&o] { o.http_enabled = false; }, "Serve no HTTP port");
  // The web pages (chat, admin) on the HTTP port: the build's web/site beside imctl's own
  // directory unless given.
  auto web_root = std::make_shared<std::string>();
  auto no_web = std::make_shared<bool>(false);
  cmd.add_option("--web-root", *web_root,
                 "Directory of the web pages served on the HTTP port (default: the build's)");
  cmd.add_flag("--no-web", *no_web, "Serve no web pages");
  // The WebSocket port for browsers (the client protocol, one frame per binary message): on by
  // default, 3000 above the client port, loopback; the node's own web pages may always use it.
  o.websocket_enabled = true;
  auto ws_port = std::make_shared<int>(-1);
  cmd.add_option("--ws-port", *ws_port,
                 "WebSocket port for browsers (default: --port + 3000; 0: any free)")
      ->check(CLI::Range(0, 65535));
  cmd.add_option("--ws-host", o.websocket.host, "WebSocket listen address")->capture_default_str();
  cmd.add_option(
      "--ws-origin", o.websocket.origins,
      "Origin browsers may connect from, e.g. https://chat.example.com (repeat; *: any)");
  cmd.add_flag_callback(
      "--no-ws-port", [&o] { o.websocket_enabled = false; }, "Serve no WebSocket port");
  cmd.parse_complete_callback([&o, app_port, http_port, ws_port, web_root, no_web] {
    if (!*no_web) o.http.web_root = web_root->empty() ? built_web_root() : *web_root;
    auto derived = [&](int offset) {
      return o.gateway.port == 0 || o.gateway.port > 65535 - offset ? 0 : o.gateway.port + offset;
    };
    o.app.port = static_cast<std::uint16_t>(*app_port >= 0 ? *app_port : derived(1000));
    o.http.port = static_cast<std::uint16_t>(*http_port >= 0 ? *http_port : derived(2000));
    o.websocket.port = static_cast<std::uint16_t>(*ws_port >= 0 ? *ws_port : derived(3000));
  });
  cmd.add_option("--backup-dir", o.backup_dir,
                 "Where POST /admin/api/backup (imctl node backup) puts backups (none if unset)");
  cmd.add_option("--tls-cert", o.gateway.tls_cert_file,
                 "PEM certificate chain: clients must then use TLS (with --tls-key)");
  cmd.add_option("--tls-key", o.gateway.tls_key_file, "PEM private key of --tls-cert");
  cmd.add_flag("--unsafe-no-fsync", o.unsafe_no_fsync,
               "BENCHMARKS ONLY: ack before fsync (acked messages can be lost on power loss)");
  cmd.add_option_function<std::int64_t>(
         "--min-sync-interval-us",
         [&o](std::int64_t us) { o.min_sync_interval = std::chrono::microseconds(us); },
         "While writes overlap, the least time between two fsyncs, so more writes share one "
         "(0: none; default " +
             std::to_string(o.min_sync_interval.count()) + ")")
      ->check(CLI::Range(0, 100000));
  // Limits (docs/SECURITY.md): every one has a default sized for a public server.
  cmd.add_option("--max-connections", o.gateway.max_connections,
                 "Client sockets at once (0: descriptor limit - 1024)")
      ->capture_default_str();
  cmd.add_option("--max-requests-in-flight", o.gateway.max_requests_in_flight,
                 "Unanswered requests per connection before it is no longer read")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--max-sessions-per-user", o.actors.max_sessions_per_user,
                 "Devices one user may have online at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd.add_option("--max-mobile-sessions", o.actors.max_mobile_sessions,
                 "Mobile (ios, android) devices one user may have online; a new one ends the "
                 "oldest (0: no cap)")
      ->capture_default_str();
  cmd.add_option("--max-desktop-sessions", o.actors.max_desktop_sessions,
                 "Desktop devices one user may have online; a new one ends the oldest (0: no cap)")
      ->capture_default_str();
  cmd.add_option("--max-web-sessions", o.actors.max_web_sessions,
                 "Web sessions one user may have online; a new one ends the oldest (0: no cap)")
      ->capture_default_str();
  cmd.add_option("--max-group-members", o.actors.max_group_members, "Members per group")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000000));
  cmd.add_option("--max-groups-per-user", o.actors.max_groups_per_user,
                 "Groups one user may be a member of")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd.add_option("--max-stored-bytes-per-user", o.actors.max_stored_bytes_per_user,
                 "Bytes of message bodies one user may store (0: no cap)")
      ->capture_default_str();
  // A duration given in (fractional) seconds, kept in milliseconds.
  auto seconds = [&cmd](const std::string& name, std::chrono::milliseconds& target,
                        const std::string& what, double min, double max) {
    cmd.add_option_function<double>(
           name,
           [&target](double s) { target = std::chrono::milliseconds(static_cast<long>(s * 1000)); },
           what)
        ->check(CLI::Range(min, max));
  };
  seconds("--recall-window", o.actors.recall_window,
          "Seconds after sending in which a sender may recall a message (group admins always "
          "may; default 120)",
          0.0, 1e9);
  cmd.add_option_function<std::string>(
         "--direct-messages",
         [&o](const std::string& who) { o.actors.friends_only_direct_messages = who == "friends"; },
         "Who may write to whom directly: open (any two users who have not blocked each other) "
         "or friends (set the same on every node; default open)")
      ->check(CLI::IsMember({"open", "friends"}));
  seconds("--friend-request-ttl", o.actors.friend_request_ttl,
          "Seconds after which an unanswered friend request lapses (default 604800: 7 days)", 0.0,
          1e10);
  seconds("--group-invite-ttl", o.actors.group_invite_ttl,
          "Seconds after which an unanswered invitation to a group lapses (default 604800: 7 days)",
          0.0, 1e10);
  seconds("--retention-sweep-interval", o.actors.retention_sweep_interval,
          "Seconds between two visits of the conversations that have a retention (default 60)",
          0.01, 86400.0);
  cmd.add_option("--max-pending-per-group", o.actors.max_pending_per_group,
                 "Pending requests to join (and, apart, invitations) one group keeps")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd.add_option("--max-relations-per-user", o.actors.max_relations_per_user,
                 "Friends, pending friend requests and blocks one user may have")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  // A burst of `burst` times the rate is allowed after a quiet period.
  auto rate = [&cmd](const std::string& name, runtime::rate_limit& limit, double burst,
                     const std::string& what) {
    cmd.add_option_function<double>(
           name,
           [&limit, burst](double per_second) {
             limit = {per_second, burst * per_second};
           },
           what + " per second, bursts of " + std::to_string(static_cast<int>(burst)) +
               " times that (0: no limit; default " +
               std::to_string(static_cast<long>(limit.per_second)) + ")")
        ->check(CLI::Range(0.0, 1e10));
  };
  rate("--connection-rate", o.gateway.connection_rate, 2,
       "Requests per connection, read no faster (throttled)");
  rate("--connection-byte-rate", o.gateway.connection_byte_rate, 4,
       "Frame bytes per connection, read no faster (throttled)");
  rate("--user-rate", o.actors.user_rate, 2, "Requests per user on this node (then rateLimited)");
}

}  // namespace

command add_cluster_start(CLI::App& cluster) {
  auto* start = cluster.add_subcommand(
      "start", "Start one node (embedded shard map, no etcd), or a local cluster with --nodes N");
  auto o = std::make_shared<server::node_options>();
  add_node_options(*start, *o);
  struct extra {
    std::uint32_t nodes = 1;
    std::string etcd;
    std::string dir = "./parley-cluster";
  };
  auto x = std::make_shared<extra>();
  start->add_option("--nodes", x->nodes, "Nodes of a local cluster (each a process)")
      ->check(CLI::Range(1, 64));
  start->add_option("--etcd", x->etcd, "Use this etcd instead of starting one");
  start->add_option("--dir", x->dir, "Local cluster directory (etcd, node data, secret, TLS files)")
      ->capture_default_str();
  return [o, x, start]() -> int {
    if (!start->parsed()) return -1;
    if (x->nodes == 1 && x->etcd.empty()) return run_node(*o);
    // A local cluster: etcd + N node processes.
    if (auto st = store::create_private_dir(x->dir); !st.ok()) {
      std::cerr << "imctl: " << st.message() << "\n";
      return 1;
    }
    sigset_t signals = block_stop_signals();
    std::vector<pid_t> children;
    std::unique_ptr<runtime::etcd_process> etcd_server;
    std::string etcd = x->etcd;
    const std::uint16_t base = o->gateway.port ? o->gateway.port : 7420;
    if (etcd.empty()) {
      runtime::etcd_process_options eo;
      eo.data_dir = x->dir + "/etcd";
      eo.log_file = x->dir + "/etcd.log";
      eo.client_port = static_cast<std::uint16_t>(base + 1959);
      eo.peer_port = static_cast<std::uint16_t>(base + 1960);
      auto started = runtime::etcd_process::start(eo);
      if (!started) {
        std::cerr << "imctl: " << started.error().message() << "\n";
        return 1;
      }
      etcd_server = std::move(*started);
      etcd = etcd_server->endpoint();
      std::cout << "parley: etcd on " << etcd << " (data " << x->dir << "/etcd)" << std::endl;
    }
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    const std::string imctl = len > 0 ? std::string(self, static_cast<std::size_t>(len)) : "imctl";
    // A local cluster's nodes talk over loopback (cluster ports bind 127.0.0.1) with TLS, as
    // a production cluster does: a CA and one certificate per node in D/tls, made once.
    const std::string tls_dir = x->dir + "/tls";
    if (auto e = runtime::ensure_cluster_ca(tls_dir)) {
      std::cerr << "imctl: " << e.message() << "\n";
      return 1;
    }
    for (std::uint32_t i = 0; i < x->nodes; ++i) {
      const std::string id = "node-" + std::to_string(i + 1);
      auto identity = runtime::issue_node_identity(tls_dir, id);
      if (!identity) {
        std::cerr << "imctl: " << identity.error().message() << "\n";
        return 1;
      }
      const auto& tls = *identity;
      std::vector<std::string> args{imctl,
                                    "node",
                                    "start",
                                    "--id",
                                    id,
                                    "--etcd",
                                    etcd,
                                    "--data-dir",
                                    x->dir + "/" + id,
                                    "--secret-file",
                                    x->dir + "/secret",
                                    "--port",
                                    std::to_string(base + i),
                                    "--cluster-port",
                                    std::to_string(base + 100 + i),
                                    "--expected-nodes",
                                    std::to_string(x->nodes),
                                    "--shards",
                                    std::to_string(o->shard_count),
                                    "--workers",
                                    std::to_string(o->worker_threads),
                                    "--cluster-ca",
                                    tls.ca_file,
                                    "--cluster-cert",
                                    tls.cert_file,
                                    "--cluster-key",
                                    tls.key_file};
      if (o->unsafe_no_fsync) args.push_back("--unsafe-no-fsync");
      args.push_back("--min-sync-interval-us");
      args.push_back(std::to_string(o->min_sync_interval.count()));
      children.push_back(spawn(args));
    }
    std::cout << "parley: " << x->nodes << " nodes starting on 127.0.0.1:" << base << "-"
              << base + x->nodes - 1 << "; `imctl cluster status --etcd " << etcd
              << "` shows them; Ctrl-C stops all" << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    std::cout << "parley: stopping the cluster" << std::endl;
    for (pid_t c : children) kill(c, SIGTERM);
    for (pid_t c : children) waitpid(c, nullptr, 0);
    etcd_server.reset();  // SIGTERM, and wait
    std::cout << "parley: cluster stopped" << std::endl;
    return 0;
  };
}

command add_node_start(CLI::App& node) {
  auto* start = node.add_subcommand("start", "Run one clustered node in the foreground");
  auto o = std::make_shared<server::node_options>();
  add_node_options(*start, *o);
  start->add_option("--etcd,--join", o->cluster.etcd, "etcd endpoint of the cluster")->required();
  start->add_option("--id", o->cluster.self, "Node id (stable across restarts)")->required();
  start->add_option("--cluster-port", o->cluster.cluster_port, "Port other nodes reach this one on")
      ->capture_default_str();
  start->add_option("--cluster-host", o->cluster.host, "Address other nodes reach this one on")
      ->capture_default_str();
  start
      ->add_option("--expected-nodes", o->cluster.expected_nodes,
                   "Nodes to wait for before the first shard map")
      ->capture_default_str();
  start->add_option("--prefix", o->cluster.prefix, "Key prefix in etcd")->capture_default_str();
  start->add_option("--cluster-ca", o->cluster.tls.ca_file,
                    "PEM: the cluster CA peers must chain to (`imctl cluster cert`)");
  start->add_option("--cluster-cert", o->cluster.tls.cert_file, "PEM: this node's certificate");
  start->add_option("--cluster-key", o->cluster.tls.key_file, "PEM: this node's private key");
  start->add_flag("--insecure-cluster-port", o->cluster.insecure,
                  "No TLS between nodes: anyone who reaches the cluster port controls the node");
  add_etcd_tls_options(*start, o->cluster.etcd_tls);
  return [o, start]() -> int {
    if (!start->parsed()) return -1;
    return run_node(*o);
  };
}

command add_cluster_cert(CLI::App& cluster) {
  auto* cert = cluster.add_subcommand(
      "cert", "Make a node's TLS certificate for the cluster port (and the cluster CA if missing)");
  struct opts {
    std::string dir = "./parley-cluster/tls";
    std::string id;
    std::string names;
  };
  auto o = std::make_shared<opts>();
  cert->add_option("--dir", o->dir, "Directory of the cluster CA (ca.pem, ca-key.pem)")
      ->capture_default_str();
  cert->add_option("--id", o->id, "Node id the certificate is for")->required();
  cert->add_option("--names", o->names,
                   "For a client-port certificate (--tls-cert): the names clients use, e.g. "
                   "DNS:chat.example.com,IP:127.0.0.1");
  return [o, cert]() -> int {
    if (!cert->parsed()) return -1;
    if (auto err = store::create_private_dir(o->dir)) {
      std::cerr << "imctl: " << err.message() << "\n";
      return 1;
    }
    if (auto e = runtime::ensure_cluster_ca(o->dir)) {
      std::cerr << "imctl: " << e.message() << "\n";
      return 1;
    }
    auto id = runtime::issue_node_identity(o->dir, o->id, o->names);
    if (!id) {
      std::cerr << "imctl: " << id.error().message() << "\n";
      return 1;
    }
    const auto& files = *id;
    std::cout << "--cluster-ca " << files.ca_file << " --cluster-cert " << files.cert_file
              << " --cluster-key " << files.key_file << "\n";
    return 0;
  };
}

command add_node_backup(CLI::App& node) {
  auto* cmd = node.add_subcommand(
      "backup", "Have a running node copy its data dir into its --backup-dir, consistently");
  struct opts {
    std::string http = "127.0.0.1:9420";
    app_target target;
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("--http", o->http, "The node's HTTP port, HOST:PORT")->capture_default_str();
  o->target.add_secret_to(*cmd);
  return [o, cmd]() -> int {
    if (!cmd->parsed()) return -1;
    auto secret = o->target.secret();
    if (!secret) {
      std::cerr << "imctl: " << secret.error().message() << "\n";
      return 1;
    }
    const auto token = runtime::token_authority(*secret).issue_operator(std::chrono::minutes(5));
    std::string why;
    auto answer = admin_post(o->http, "backup", token, 600, why);
    if (!answer) {
      std::cerr << "imctl: " << why << "\n";
      return 1;
    }
    const auto j = nlohmann::json::parse(*answer, nullptr, false);
    if (j.is_discarded() || !j.contains("backup")) {
      std::cerr << "imctl: the node answered " << *answer << "\n";
      return 1;
    }
    std::cout << j["backup"].get<std::string>() << "\n";
    return 0;
  };
}

command add_node_drain(CLI::App& node) {
  auto* drain = node.add_subcommand("drain", "Move a node's shards to the others, then stop it");
  struct opts {
    std::string node;
    std::string etcd = "http://127.0.0.1:9379";
    std::string prefix = runtime::default_cluster_prefix;
    int timeout_s = 300;
    runtime::tls_identity etcd_tls;
  };
  auto o = std::make_shared<opts>();
  add_etcd_tls_options(*drain, o->etcd_tls);
  drain->add_option("node", o->node, "Node id, e.g. node-2")->required();
  drain->add_option("--etcd", o->etcd, "etcd endpoint")->capture_default_str();
  drain->add_option("--prefix", o->prefix, "Key prefix in etcd")->capture_default_str();
  drain->add_option("--timeout", o->timeout_s, "Seconds to wait")->capture_default_str();
  return [o, drain]() -> int {
    if (!drain->parsed()) return -1;
    runtime::etcd_client etcd(o->etcd, std::chrono::milliseconds(2000), o->etcd_tls);
    const runtime::cluster_layout keys(o->prefix);
    const std::string node_key = keys.node(o->node);
    auto listed = etcd.get(node_key);
    if (!listed || !*listed) {
      std::cerr << "imctl: node " << o->node << " is not registered in " << o->etcd << "\n";
      return 1;
    }
    if (etcd.put(keys.drain(o->node), "1")) {
      std::cerr << "imctl: cannot write the drain request\n";
      return 1;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o->timeout_s);
    long last = -1;
    for (;;) {
      auto kv = etcd.get(keys.shard_map());
      runtime::stored_shard_map map;
      if (kv && *kv) map = runtime::decode_shard_map((*kv)->value).value_or(map);
      const long left = std::count(map.owners.begin(), map.owners.end(), o->node);
      if (left != last) {
        std::cout << "drain " << o->node << ": " << left << " shard(s) left (map epoch "
                  << map.epoch << ")" << std::endl;
        last = left;
      }
      auto still = etcd.get(node_key);
      if (left == 0 && still && !*still) break;  // moved everything and stopped
      if (std::chrono::steady_clock::now() >= deadline) {
        std::cerr << "imctl: drain of " << o->node << " did not finish in " << o->timeout_s
                  << " s (the request stays; run again to keep waiting)\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // progress polling
    }
    if (auto err = etcd.erase(keys.drain(o->node))) {  // a restarted node may serve again
      std::cerr << "imctl: " << o->node
                << " stopped, but its drain request stays: " << err.message() << "\n";
      return 1;
    }
    std::cout << "drain " << o->node << ": done, node stopped" << std::endl;
    return 0;
  };
}

namespace {

/// `imctl cluster status --via-app`: what one node says of itself and of the shard map.
int print_node_status(const app_target& target, bool json) {
  return with_engine(target, [json](app::Engine::Client engine, kj::WaitScope& ws) {
    auto cluster = engine.clusterRequest().send().wait(ws).getCluster();
    auto answer = cluster.statusRequest().send().wait(ws);  // the reader points into it
    auto st = answer.getStatus();
    if (json) {
      auto owners = nlohmann::json::object();
      for (auto owner : st.getOwners()) owners[owner.getNode().cStr()] = owner.getShards();
      std::cout << nlohmann::json{{"node", st.getNode().cStr()},
                                  {"epoch", st.getMapEpoch()},
                                  {"shards", st.getShards()},
                                  {"serving", st.getServing()},
                                  {"owners", owners},
                                  {"connections", st.getConnections()},
                                  {"logins", st.getLogins()},
                                  {"messages", st.getMessagesSent()},
                                  {"pushes", st.getPushes()},
                                  {"activeActors", st.getActiveEntities()}}
                       .dump()
                << "\n";
      return 0;
    }
    std::cout << "node " << st.getNode().cStr() << ": shard map epoch " << st.getMapEpoch() << ", "
              << st.getShards() << " shards" << (st.getServing() ? "" : ", NOT SERVING") << "\n";
    std::printf("%-10s %7s\n", "OWNER", "SHARDS");
    for (auto owner : st.getOwners()) {
      std::printf("%-10s %7u\n", owner.getNode().cStr(), owner.getShards());
    }
    std::cout << "connections " << st.getConnections() << ", logins " << st.getLogins()
              << ", messages " << st.getMessagesSent() << ", pushes " << st.getPushes()
              << ", active actors " << st.getActiveEntities() << "\n";
    return 0;
  });
}

/// One node's line of `imctl cluster status`.
struct node_row {
  std::string node;
  std::string clients;  ///< "host:port", "" for an owner that is not registered (down)
  long shards = 0;
  std::optional<node_metrics> figures;  ///< from its /metrics, if it answered
  std::optional<long> rate;             ///< messages per second over the sample
};

void print_rows(const runtime::stored_shard_map& map, const std::string& coordinator,
                const std::vector<node_row>& rows, bool json) {
  if (json) {
    auto nodes = nlohmann::json::array();
    for (auto& r : rows) {
      nlohmann::json n{{"node", r.node}, {"up", !r.clients.empty()}, {"shards", r.shards}};
      if (!r.clients.empty()) n["clients"] = r.clients;
      if (r.figures) {
        n["connections"] = r.figures->connections;
        n["messages"] = r.figures->messages;
        n["activeActors"] = r.figures->actors;
      }
      if (r.rate) n["messagesPerSecond"] = *r.rate;
      nodes.push_back(std::move(n));
    }
    std::cout << nlohmann::json{{"epoch", map.epoch},
                                {"shards", map.owners.size()},
                                {"coordinator", coordinator},
                                {"nodes", nodes}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << "shard map epoch " << map.epoch << ", " << map.owners.size()
            << " shards; coordinator " << (coordinator.empty() ? "none" : coordinator) << "\n";
  std::printf("%-10s %-22s %7s %12s %12s %10s %10s\n", "NODE", "CLIENTS AT", "SHARDS",
              "CONNECTIONS", "MESSAGES", "MSG/S", "ACTORS");
  for (auto& r : rows) {
    if (r.clients.empty()) {
      std::printf("%-10s %-22s %7ld   DOWN: its shards are unavailable until it returns\n",
                  r.node.c_str(), "-", r.shards);
      continue;
    }
    auto figure = [&](std::uint64_t node_metrics::*field) {
      return r.figures ? std::to_string((*r.figures).*field) : std::string("-");
    };
    std::printf(
        "%-10s %-22s %7ld %12s %12s %10s %10s\n", r.node.c_str(), r.clients.c_str(), r.shards,
        figure(&node_metrics::connections).c_str(), figure(&node_metrics::messages).c_str(),
        r.rate ? std::to_string(*r.rate).c_str() : "-", figure(&node_metrics::actors).c_str());
  }
}

}  // namespace

command add_cluster_status(CLI::App& cluster) {
  auto* status = cluster.add_subcommand("status", "Nodes, shard owners and rates of a cluster");
  struct opts {
    std::string etcd = "http://127.0.0.1:9379";
    std::string prefix = runtime::default_cluster_prefix;
    runtime::tls_identity etcd_tls;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  add_etcd_tls_options(*status, o->etcd_tls);
  status->add_option("--etcd", o->etcd, "etcd endpoint")->capture_default_str();
  status->add_option("--prefix", o->prefix, "Key prefix in etcd")->capture_default_str();
  status->add_flag("--json", o->json, "Answer as JSON");
  // One node's own view through its app port instead (a single node has no etcd).
  auto app = std::make_shared<app_target>();
  auto* via_app = status->add_flag("--via-app", "Ask one node through its app port (--app)");
  app->add_to(*status);
  return [o, status, app, via_app]() -> int {
    if (!status->parsed()) return -1;
    if (*via_app) return print_node_status(*app, o->json);
    runtime::etcd_client etcd(o->etcd, std::chrono::milliseconds(2000), o->etcd_tls);
    const runtime::cluster_layout keys(o->prefix);
    auto nodes = etcd.get_prefix(keys.nodes());
    if (!nodes) {
      std::cerr << "imctl: cannot read etcd at " << o->etcd << "\n";
      return 1;
    }
    // Each node's figures from its /metrics (the HTTP port it registered); two scrapes a
    // second apart give the rates.
    std::map<std::string, std::string> http_of;
    for (auto& kv : *nodes) {
      if (auto n = runtime::decode_node_info(kv.value); n && !n->http.empty()) {
        http_of[n->id] = n->http;
      }
    }
    auto read_figures = [&] {
      std::map<std::string, node_metrics> figures;
      for (auto& [id, http] : http_of) {
        std::string why;
        if (auto m = scrape(http, why)) figures[id] = *m;
      }
      return figures;
    };
    auto before = read_figures();
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the span the rates are taken over
    auto figures = read_figures();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto coordinator = etcd.get(keys.coordinator());
    auto stored = etcd.get(keys.shard_map());
    runtime::stored_shard_map map;
    if (stored && *stored) map = runtime::decode_shard_map((*stored)->value).value_or(map);
    const auto& owners = map.owners;
    std::vector<node_row> rows;
    std::set<std::string> listed;
    for (auto& kv : *nodes) {
      const auto n = runtime::decode_node_info(kv.value);
      if (!n) continue;
      listed.insert(n->id);
      node_row r;
      r.node = n->id;
      r.clients = n->host + ":" + std::to_string(n->client_port);
      r.shards = static_cast<long>(std::count(owners.begin(), owners.end(), n->id));
      if (auto f = figures.find(n->id); f != figures.end()) {
        r.figures = f->second;
        if (auto b = before.find(n->id); b != before.end()) {
          const double d = static_cast<double>(f->second.messages - b->second.messages);
          r.rate = static_cast<long>(d / elapsed);
        }
      }
      rows.push_back(std::move(r));
    }
    for (auto& id : std::set<std::string>(owners.begin(), owners.end())) {
      if (listed.count(id)) continue;
      node_row r;
      r.node = id;
      r.shards = static_cast<long>(std::count(owners.begin(), owners.end(), id));
      rows.push_back(std::move(r));
    }
    print_rows(map, coordinator && *coordinator ? (*coordinator)->value : std::string(), rows,
               o->json);
    return 0;
  };
}

}  // namespace parley::cli
