#include "parley/testing/scenario.hpp"

#include "parley/schema/ids.hpp"

#include "parley/testing/embedded_cluster.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace parley::testing {

namespace {

using client::ErrorCode;
using steady = std::chrono::steady_clock;

struct pair_state {
  std::string from, to, conversation;
  std::unique_ptr<client::connection> sender, receiver;
  std::map<std::string, std::uint64_t> acked;
  std::vector<double> latencies_ms;
  std::size_t failures = 0;
  std::string first_failure;
  std::size_t resends = 0;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

}  // namespace

std::string scenario_report::describe() const {
  std::ostringstream out;
  out << "acked " << acked << ", stored " << stored << ", missing " << missing << ", duplicates "
      << duplicates << ", gap conversations " << gaps << ", failed sends " << send_failures
      << (first_failure.empty() ? "" : " (first: " + first_failure + ")") << ", resends " << resends
      << ", dropped clients " << clients_dropped << ", handoffs " << handoff_ms.size()
      << ", send p50/p99/max " << send_p50_ms << "/" << send_p99_ms << "/" << send_max_ms
      << " ms over " << seconds << " s";
  return out.str();
}

scenario_report run_join_drain_scenario(const scenario_options& opts) {
  embedded_cluster cluster(opts.nodes, embedded_cluster::test_defaults(), opts.tls);
  std::vector<pair_state> ps(opts.pairs);
  for (std::size_t p = 0; p < ps.size(); ++p) {
    auto& s = ps[p];
    s.from = "s" + std::to_string(p);
    s.to = "r" + std::to_string(p);
    s.conversation = schema::dm_conversation(s.from, s.to);
    // Clients stay off the node that drains: node 0 only when no node joins.
    const std::size_t first = opts.join ? 0 : 1;
    const std::size_t spread = opts.nodes - first;
    s.sender = cluster.login(first + p % spread, s.from);
    s.receiver = cluster.login(first + (p + 1) % spread, s.to);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  const auto t0 = steady::now();
  for (auto& s : ps) {
    load.emplace_back([&s, &stop] {
      for (int n = 0; !stop; ++n) {
        const std::string id = s.from + "-" + std::to_string(n);
        const auto start = steady::now();
        // Resends carry the same client message id: the server stores the message once.
        const auto r =
            client::send_until_acked(*s.sender, s.to, id, id, 100, [&s] { ++s.resends; });
        if (!r.ok()) {
          if (s.failures++ == 0) s.first_failure = client::to_string(r.code) + ": " + r.error;
          continue;
        }
        s.acked[id] = r.seq;
        s.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(steady::now() - start).count());
      }
    });
  }
  scenario_report report;
  try {
    std::size_t drained = 0;
    if (opts.join) {
      const std::size_t joined = cluster.add_node();
      drained = joined;
      const std::size_t share = 16 / (opts.nodes + 1);
      if (!wait_until([&] { return cluster.shards_of(joined) >= share; },
                      std::chrono::seconds(120))) {
        throw std::runtime_error("the joined node did not receive its share of shards");
      }
    }
    if (opts.drain) cluster.drain(drained, std::chrono::seconds(120));
  } catch (...) {
    stop = true;  // the senders must end before the exception leaves this function
    for (auto& t : load) t.join();
    throw;
  }
  stop = true;
  for (auto& t : load) t.join();
  report.seconds = std::chrono::duration<double>(steady::now() - t0).count();

  std::vector<double> latencies;
  for (auto& s : ps) {
    report.acked += s.acked.size();
    report.send_failures += s.failures;
    if (report.first_failure.empty()) report.first_failure = s.first_failure;
    report.resends += s.resends;
    latencies.insert(latencies.end(), s.latencies_ms.begin(), s.latencies_ms.end());
    auto pulled = client::pull_all(*s.receiver, s.conversation);
    std::vector<client::message> all;
    if (auto* got = std::get_if<std::vector<client::message>>(&pulled)) all = std::move(*got);
    report.stored += all.size();
    std::set<std::string> seen;
    bool gap = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i].seq != i + 1) gap = true;
      if (!seen.insert(all[i].client_msg_id).second) ++report.duplicates;
    }
    report.gaps += gap ? 1 : 0;
    for (auto& [id, seq] : s.acked) report.missing += seen.count(id) ? 0 : 1;
    report.clients_dropped += (s.sender->closed() ? 1 : 0) + (s.receiver->closed() ? 1 : 0);
  }
  report.handoff_ms = cluster.drained_handoffs();
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (!cluster.running(i)) continue;
    for (double ms : cluster.node(i).handoff_times_ms()) report.handoff_ms.push_back(ms);
  }
  report.send_p50_ms = percentile(latencies, 0.5);
  report.send_p99_ms = percentile(latencies, 0.99);
  report.send_max_ms = percentile(latencies, 1.0);
  return report;
}

}  // namespace parley::testing
