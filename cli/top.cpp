// imctl top: each node's rates, refreshing in place, read from the nodes' /metrics (their HTTP
// ports: counters since the node started; two samples give the rates).
//
//   imctl top [--http HOST:PORT ...] [--interval MS] [--count N] [--json]
//
// Give one --http per node. On a terminal the table is redrawn every interval; otherwise (or
// with --json, one line per node and sample) each sample is appended. --count stops after N
// samples (0: until interrupted).

#include "commands.hpp"
#include "scrape.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>
#include <vector>

namespace parley::cli {

namespace {

struct sample {
  std::string node;
  node_metrics figures;
  bool reached = false;
};

/// One scrape of the node at `http` (named by its address until it answers).
sample read(const std::string& http) {
  sample s;
  s.node = http;
  std::string why;
  if (auto m = scrape(http, why)) {
    s.node = m->node;
    s.figures = *m;
    s.reached = true;
  } else {
    std::cerr << "imctl: " << why << "\n";
  }
  return s;
}

double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
  return now >= before && seconds > 0 ? static_cast<double>(now - before) / seconds : 0.0;
}

}  // namespace

command add_top(CLI::App& app) {
  auto* top = app.add_subcommand("top", "Each node's rates, refreshing (from their /metrics)");
  struct opts {
    std::vector<std::string> nodes{"127.0.0.1:9420"};
    std::uint32_t interval_ms = 1000;
    std::uint32_t count = 0;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  top->add_option("--http", o->nodes, "A node's HTTP port, HOST:PORT (one per node)")
      ->capture_default_str();
  top->add_option("--interval", o->interval_ms, "Milliseconds between samples")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  top->add_option("--count", o->count, "Stop after this many samples (0: never)");
  top->add_flag("--json", o->json, "One JSON object per node and sample");
  return [o, top]() -> int {
    if (!top->parsed()) return -1;
    for (auto& http : o->nodes) {  // every node must answer once, or it is a typo
      std::string why;
      if (!scrape(http, why)) {
        std::cerr << "imctl: " << why << "\n";
        return 1;
      }
    }
    const bool redraw = !o->json && isatty(STDOUT_FILENO);
    std::vector<sample> before(o->nodes.size());
    auto t0 = std::chrono::steady_clock::now();
    for (std::uint32_t n = 0; o->count == 0 || n <= o->count; ++n) {
      std::vector<sample> now;
      for (auto& http : o->nodes) now.push_back(read(http));
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
          const auto& f = s.figures;
          const double logins = per_second(f.logins, b.figures.logins, seconds);
          const double msgs = per_second(f.messages, b.figures.messages, seconds);
          const double pushes = per_second(f.pushes, b.figures.pushes, seconds);
          if (o->json) {
            std::printf(
                "{\"node\":\"%s\",\"reached\":%s,\"epoch\":%llu,\"connections\":%llu,"
                "\"logins_per_s\":%.1f,\"messages_per_s\":%.1f,\"pushes_per_s\":%.1f,"
                "\"active_actors\":%llu,\"serving\":%s}\n",
                s.node.c_str(), s.reached ? "true" : "false",
                static_cast<unsigned long long>(f.epoch),
                static_cast<unsigned long long>(f.connections), logins, msgs, pushes,
                static_cast<unsigned long long>(f.actors), f.serving ? "true" : "false");
          } else {
            std::printf("%-12s %6llu %8llu %11.1f %10.1f %10.1f %8llu %s\n", s.node.c_str(),
                        static_cast<unsigned long long>(f.epoch),
                        static_cast<unsigned long long>(f.connections), logins, msgs, pushes,
                        static_cast<unsigned long long>(f.actors),
                        !s.reached ? "UNREACHABLE" : (f.serving ? "serving" : "NOT SERVING"));
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
