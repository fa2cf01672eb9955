// imctl cluster start: one node in the foreground until Ctrl-C or SIGTERM.

#include "commands.hpp"

#include "parley/server/node.hpp"

#include <csignal>
#include <iostream>
#include <pthread.h>
#include <sys/resource.h>

namespace parley::cli {

command add_cluster_start(CLI::App& cluster) {
  auto* start = cluster.add_subcommand(
      "start", "Start a single node with an embedded shard map (no etcd), in the foreground");
  auto o = std::make_shared<server::node_options>();
  start->add_option("--data-dir", o->data_dir, "Data directory (created if missing)")
      ->capture_default_str();
  start->add_option("--host", o->gateway.host, "Client listen address")->capture_default_str();
  start->add_option("--port", o->gateway.port, "Client listen port (0: any free port)")
      ->capture_default_str();
  start->add_option("--shards", o->shard_count, "Shards of a new data dir")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  start->add_option("--workers", o->worker_threads, "Actor scheduler threads (0: one per core)")
      ->capture_default_str();
  start->add_option("--io-threads", o->gateway.io_threads, "Network threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  start->add_flag("--unsafe-no-fsync", o->unsafe_no_fsync,
                  "BENCHMARKS ONLY: ack before fsync (acked messages can be lost on power loss)");
  return [o, start]() -> int {
    if (!start->parsed()) return -1;
    // Sockets are descriptors: use all the process may have (the hard limit).
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
      fds.rlim_cur = fds.rlim_max;
      setrlimit(RLIMIT_NOFILE, &fds);  // best effort: on failure the node runs with fewer
    }
    // Block the signals in every thread the node will start; this thread waits for them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    auto started = server::node::start(*o);
    if (auto* error = std::get_if<std::string>(&started)) {
      std::cerr << "imctl: " << *error << "\n";
      return 1;
    }
    auto& n = *std::get<std::unique_ptr<server::node>>(started);
    std::cout << "parley: node listening on " << n.endpoint() << " (data dir " << o->data_dir
              << ", single node, embedded shard map)" << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    std::cout << "parley: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping" << std::endl;
    n.stop();
    std::cout << "parley: stopped" << std::endl;
    return 0;
  };
}

}  // namespace parley::cli
