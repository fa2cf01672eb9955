// bench/drain_time: how long draining a node takes (issue 15's scale rows). Starts etcd and two
// nodes with `--shards` shards, waits until they hold half each, then drains node 1 and reports
// the wall time until it owns none, with the time of each handoff it made.
//
// With `--fill N`, N messages are first written into one shard of node 1 (stopped meanwhile;
// bench/seed.hpp), and a client on node 0 sends to a conversation of that shard throughout the
// drain, one send after another (resent on a retriable error): the report adds that shard's
// bytes and the sends' p99 and max (the stall), and checks that the shard arrived whole (the
// newest page of a seeded conversation read back through node 0).
//
//   build/bench/drain_time [--shards 64] [--fill 1000000]

#include "parley/runtime/entity_id.hpp"
#include "parley/testing/embedded_cluster.hpp"
#include "parley/testing/support.hpp"
#include "seed.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

using namespace parley;

int main(int argc, char** argv) {
  using namespace std::chrono;
  CLI::App app{"How long draining a node takes"};
  std::uint32_t shards = 64;
  std::uint64_t fill = 0;
  app.add_option("--shards", shards, "the cluster's shard count");
  app.add_option("--fill", fill, "messages to store in one shard of the draining node first");
  CLI11_PARSE(app, argc, argv);
  auto opts = testing::embedded_cluster::test_defaults();
  opts.shard_count = shards;
  testing::embedded_cluster cluster(2, opts);
  if (!testing::wait_until([&] { return cluster.shards_of(1) == shards / 2; }, seconds(300))) {
    std::fprintf(stderr, "the join rebalance did not finish\n");
    return 1;
  }
  std::vector<std::string> seeded;
  if (fill > 0) {
    std::uint32_t shard = 0;
    for (std::uint64_t c = 0;; ++c) {
      const auto entity = runtime::conversation_entity(bench::seeded_conversation(c));
      if (cluster.owner_of(entity) == 1) {
        shard = cluster.shard_of(entity);
        break;
      }
    }
    cluster.stop(1);
    seeded = bench::seed_messages(cluster.data_dir(1), fill, shard);
    cluster.start(1);
  }
  // The sender: user s<c> of the first seeded conversation, on node 0, to t<c>.
  std::atomic<bool> stop{false};
  std::vector<double> send_ms;
  std::size_t failed = 0;
  std::thread sender;
  if (!seeded.empty()) {
    const std::string from = seeded.front().substr(3, seeded.front().find('/', 3) - 3);
    const std::string to = seeded.front().substr(seeded.front().rfind('/') + 1);
    auto client = cluster.login(0, from);
    sender = std::thread([&, client = std::move(client), to]() mutable {
      for (std::uint64_t n = 0; !stop; ++n) {
        const auto t0 = steady_clock::now();
        client::response r;
        do {
          r = client->send_to_user(to, "drain-" + std::to_string(n), "during the drain");
        } while (r.code == client::ErrorCode::UNAVAILABLE && !stop);
        if (r.code != client::ErrorCode::OK) ++failed;
        send_ms.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
      }
    });
    std::this_thread::sleep_for(milliseconds(500));  // sends before the drain: a baseline
  }
  const auto drain_start = steady_clock::now();
  cluster.drain(1, seconds(300));
  const double drain_s = duration<double>(steady_clock::now() - drain_start).count();
  if (sender.joinable()) {
    std::this_thread::sleep_for(milliseconds(500));
    stop = true;
    sender.join();
  }
  bool whole = true;
  if (!seeded.empty()) {
    // A seeded conversation other than the sender's still ends at its last seeded seq.
    const std::string& other = seeded.size() > 1 ? seeded[1] : seeded[0];
    const std::uint64_t newest =
        std::min<std::uint64_t>(bench::seeded_per_conversation,
                                seeded.size() > 1 ? fill - bench::seeded_per_conversation : fill);
    auto reader = cluster.login(0, other.substr(3, other.find('/', 3) - 3));
    const auto page = reader->pull(other, newest > 10 ? newest - 10 : 0, 10);
    whole = page.code == client::ErrorCode::OK && !page.messages.empty() &&
            page.messages.back().seq == newest;
  }
  auto h = cluster.drained_handoffs();
  std::sort(h.begin(), h.end());
  std::sort(send_ms.begin(), send_ms.end());
  const auto pct = [&](double q) {
    return send_ms.empty() ? 0.0 : send_ms[static_cast<std::size_t>(q * (send_ms.size() - 1))];
  };
  std::printf(
      "{\"shards\":%u,\"filled_messages\":%llu,\"drain_s\":%.2f,\"handoffs\":%zu,"
      "\"handoff_p50_ms\":%.1f,\"handoff_max_ms\":%.1f,\"sends\":%zu,\"failed_sends\":%zu,"
      "\"send_p99_ms\":%.1f,\"send_max_ms\":%.1f,\"arrived_whole\":%s}\n",
      shards, static_cast<unsigned long long>(fill), drain_s, h.size(),
      h.empty() ? 0.0 : h[h.size() / 2], h.empty() ? 0.0 : h.back(), send_ms.size(), failed,
      pct(0.99), send_ms.empty() ? 0.0 : send_ms.back(), whole ? "true" : "false");
  return whole && failed == 0 ? 0 : 1;
}
