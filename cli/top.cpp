// imctl top: each node's rates, refreshing in place, read through the nodes' app ports
// (Cluster.status: counters since the node started; two samples give the rates).
//
//   imctl top [--app HOST:PORT ...] [--interval MS] [--count N] [--json]
//
// Give one --app per node (a cluster's nodes share the secret). On a terminal the table is
// redrawn every interval; otherwise (or with --json, one line per node and sample) each sample
// is appended. --count stops after N samples (0: until interrupted).

#include "app_rpc.hpp"
#include "commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace parley::cli {

namespace {

struct sample {
  std::string node;
  std::uint64_t connections = 0, logins = 0, messages = 0, pushes = 0, actors = 0;
  std::uint64_t epoch = 0;
  bool serving = false;
  bool reached = false;
};

/// One node's app port, connected and authenticated once.
class node_link {
 public:
  node_link(std::string address, const std::string& secret)
      : address_(std::move(address)), rpc_(address_) {
    auto auth = rpc_.getMain<app::Bootstrap>().authenticateRequest();
    auth.setSecret(
        capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(secret.data()), secret.size()));
    cluster_ = auth.send()
                   .wait(rpc_.getWaitScope())
                   .getEngine()
                   .clusterRequest()
                   .send()
                   .wait(rpc_.getWaitScope())
                   .getCluster();
  }

  sample read() {
    sample s;
    s.node = address_;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                   auto answer = cluster_.statusRequest().send().wait(rpc_.getWaitScope());
                   auto st = answer.getStatus();
                   s.node = st.getNode().cStr();
                   s.connections = st.getConnections();
                   s.logins = st.getLogins();
                   s.messages = st.getMessagesSent();
                   s.pushes = st.getPushes();
                   s.actors = st.getActiveEntities();
                   s.epoch = st.getMapEpoch();
                   s.serving = st.getServing();
                   s.reached = true;
                 })) {
      std::cerr << "imctl: " << address_ << ": " << said(*e) << "\n";
    }
    return s;
  }

 private:
  std::string address_;
  capnp::EzRpcClient rpc_;
  app::Cluster::Client cluster_ = nullptr;
};

double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
  return now >= before && seconds > 0 ? static_cast<double>(now - before) / seconds : 0.0;
}

}  // namespace

command add_top(CLI::App& app) {
  auto* top = app.add_subcommand("top", "Each node's rates, refreshing (through the app ports)");
  struct opts {
    std::vector<std::string> apps{"127.0.0.1:8420"};
    app_target target;
    std::uint32_t interval_ms = 1000;
    std::uint32_t count = 0;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  top->add_option("--app", o->apps, "A node's app port, HOST:PORT (one per node)")
      ->capture_default_str();
  top->add_option("--data-dir", o->target.data_dir, "Node data dir holding the secret")
      ->capture_default_str();
  top->add_option("--secret-file", o->target.secret_file,
                  "Token secret (default <data-dir>/secret)");
  top->add_option("--interval", o->interval_ms, "Milliseconds between samples")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  top->add_option("--count", o->count, "Stop after this many samples (0: never)");
  top->add_flag("--json", o->json, "One JSON object per node and sample");
  return [o, top]() -> int {
    if (!top->parsed()) return -1;
    auto secret = o->target.secret();
    if (!secret) {
      std::cerr << "imctl: " << secret.error().message() << "\n";
      return 1;
    }
    std::vector<std::unique_ptr<node_link>> links;
    for (auto& address : o->apps) {
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                     links.push_back(std::make_unique<node_link>(address, *secret));
                   })) {
        std::cerr << "imctl: " << address << ": " << said(*e) << "\n";
        return 1;
      }
    }
    const bool redraw = !o->json && isatty(STDOUT_FILENO);
    std::vector<sample> before(links.size());
    auto t0 = std::chrono::steady_clock::now();
    for (std::uint32_t n = 0; o->count == 0 || n <= o->count; ++n) {
      std::vector<sample> now;
      for (auto& l : links) now.push_back(l->read());
      const auto t1 = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(t1 - t0).count();
      if (n > 0) {  // the first read only sets the baseline
        if (redraw) std::printf("\033[H\033[2J");
        if (!o->json) {
          std::printf("%-12s %6s %8s %11s %10s %10s %8s %s\n", "NODE", "EPOCH", "CONNS", "LOGINS/s",
                      "MSGS/s", "PUSHES/s", "ACTORS", "STATE");
        }
        for (std::size_t i = 0; i < now.size(); ++i) {
          const auto& s = now[i];
          const auto& b = before[i];
          const double logins = per_second(s.logins, b.logins, seconds);
          const double msgs = per_second(s.messages, b.messages, seconds);
          const double pushes = per_second(s.pushes, b.pushes, seconds);
          if (o->json) {
            std::printf(
                "{\"node\":\"%s\",\"reached\":%s,\"epoch\":%llu,\"connections\":%llu,"
                "\"logins_per_s\":%.1f,\"messages_per_s\":%.1f,\"pushes_per_s\":%.1f,"
                "\"active_actors\":%llu,\"serving\":%s}\n",
                s.node.c_str(), s.reached ? "true" : "false",
                static_cast<unsigned long long>(s.epoch),
                static_cast<unsigned long long>(s.connections), logins, msgs, pushes,
                static_cast<unsigned long long>(s.actors), s.serving ? "true" : "false");
          } else {
            std::printf("%-12s %6llu %8llu %11.1f %10.1f %10.1f %8llu %s\n", s.node.c_str(),
                        static_cast<unsigned long long>(s.epoch),
                        static_cast<unsigned long long>(s.connections), logins, msgs, pushes,
                        static_cast<unsigned long long>(s.actors),
                        !s.reached ? "UNREACHABLE" : (s.serving ? "serving" : "NOT SERVING"));
          }
        }
        std::fflush(stdout);
      }
      if (o->count != 0 && n == o->count) break;
      before = std::move(now);
      t0 = t1;
      std::this_thread::sleep_for(std::chrono::milliseconds(o->interval_ms));  // the refresh pace
    }
    return 0;
  };
}

}  // namespace parley::cli
