// bench/drain_time: how long draining a node takes. Starts etcd and two nodes with `shards`
// shards, waits until they hold half each (the join rebalance), then drains node 1 and reports
// the wall time until it owns none, with the handoff time of each move it made.
//
//   build/bench/drain_time [shards]      (default 64)

#include "parley/testing/embedded_cluster.hpp"
#include "parley/testing/support.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  using namespace std::chrono;
  auto opts = parley::testing::embedded_cluster::test_defaults();
  opts.shard_count = argc > 1 ? static_cast<std::uint32_t>(std::atoi(argv[1])) : 64;
  parley::testing::embedded_cluster cluster(2, opts);
  const auto balance_start = steady_clock::now();
  const bool balanced = parley::testing::wait_until(
      [&] { return cluster.shards_of(1) == opts.shard_count / 2; }, seconds(300));
  const double balance_s = duration<double>(steady_clock::now() - balance_start).count();
  if (!balanced) {
    std::fprintf(stderr, "the join rebalance did not finish\n");
    return 1;
  }
  const auto drain_start = steady_clock::now();
  cluster.drain(1, seconds(300));
  const double drain_s = duration<double>(steady_clock::now() - drain_start).count();
  auto h = cluster.drained_handoffs();
  std::sort(h.begin(), h.end());
  std::printf(
      "{\"shards\":%u,\"join_rebalance_s\":%.2f,\"drain_s\":%.2f,\"moves\":%zu,"
      "\"handoff_p50_ms\":%.1f,\"handoff_max_ms\":%.1f}\n",
      opts.shard_count, balance_s, drain_s, h.size(), h.empty() ? 0.0 : h[h.size() / 2],
      h.empty() ? 0.0 : h.back());
  return 0;
}
