// bench/cluster_scenario: the full cluster scenario — 3 nodes, 100 client pairs (200 clients)
// spread over them sending continuously, a 4th node joins and then drains — and its figures:
// handoff time per shard, send latency (with resends) while shards move, and the correctness
// counts.
//
//   build/bench/cluster_scenario [pairs]

#include "parley/testing/scenario.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  parley::testing::scenario_options opts;
  opts.nodes = 3;
  opts.pairs = argc > 1 ? static_cast<std::size_t>(std::atoi(argv[1])) : 100;
  const auto r = parley::testing::run_join_drain_scenario(opts);
  auto h = r.handoff_ms;
  std::sort(h.begin(), h.end());
  const double h50 = h.empty() ? 0 : h[h.size() / 2];
  const double hmax = h.empty() ? 0 : h.back();
  std::printf(
      "{\"clients\":%zu,\"acked\":%zu,\"stored\":%zu,\"missing\":%zu,\"duplicates\":%zu,"
      "\"gap_conversations\":%zu,\"failed_sends\":%zu,\"resends\":%zu,\"dropped_clients\":%zu,"
      "\"handoffs\":%zu,\"handoff_p50_ms\":%.1f,\"handoff_max_ms\":%.1f,"
      "\"send_p50_ms\":%.2f,\"send_p99_ms\":%.2f,\"send_max_ms\":%.1f,\"seconds\":%.1f}\n",
      opts.pairs * 2, r.acked, r.stored, r.missing, r.duplicates, r.gaps, r.send_failures,
      r.resends, r.clients_dropped, h.size(), h50, hmax, r.send_p50_ms, r.send_p99_ms,
      r.send_max_ms, r.seconds);
  const bool ok = r.missing == 0 && r.duplicates == 0 && r.gaps == 0 && r.clients_dropped == 0 &&
                  r.stored == r.acked;
  return ok ? 0 : 1;
}
