// bench/large_group: what a group's size costs. For each size, a group of that many members is
// written straight into a stopped node's store (the setup is not what is measured), then the
// node starts and the bench measures:
//   - activation: the first request to the group (loads every member record), wall time and the
//     process's memory growth;
//   - per message: `--messages` sends by one member, each waiting for its ack, while `--online`
//     members are logged in and must each receive every message; the process's CPU time per
//     message (server and the in-process clients, whose share does not depend on the size);
//   - a join: one member added to the full group (writes one member record).
// Prints one JSON line per size.
//
//   build/bench/large_group [--sizes 100,10000,100000] [--messages 2000] [--online 10]

#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/schema/framing.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/store.hpp"
#include "parley/testing/embedded_node.hpp"

#include "records.capnp.h"

#include <capnp/message.h>
#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace parley;
using clock_type = std::chrono::steady_clock;

namespace {

std::string member_id(std::size_t i) {
  char name[32];
  std::snprintf(name, sizeof name, "m%06zu", i);
  return name;
}

/// Writes group "big" with `size` members (m000000 the owner) into the node's stopped store.
void seed(const std::string& data_dir, std::size_t size) {
  store::options so;
  so.dir = data_dir + "/db";
  so.shard_count = 0;
  auto db = store::store::open(so);
  if (!db) throw std::runtime_error("cannot open the store");
  const auto entity = runtime::group_entity("big");
  const auto shard = runtime::shard_of(entity, (*db)->shard_count());
  const auto now =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  store::write_batch batch;
  for (std::size_t i = 0; i < size; ++i) {
    schema::message_builder message;
    auto m = message.initRoot<records::GroupMember>();
    m.setRole(i == 0 ? wire::GroupRole::OWNER : wire::GroupRole::MEMBER);
    m.setJoinedMs(now);
    batch.put(shard, store::named_key(entity, store::record::member, member_id(i)),
              schema::encode_bytes(message));
    if (batch.size() >= 10000) {
      if (!(*db)->write(batch, store::durability::buffered).ok()) throw std::runtime_error("write");
      batch = store::write_batch();
    }
  }
  schema::message_builder message;
  auto g = message.initRoot<records::GroupState>();
  g.setGroupId("big");
  g.setName("Big");
  g.setCreatedMs(now);
  g.setMemberCount(static_cast<std::uint32_t>(size));
  batch.put(shard, store::named_key(entity, store::record::state, ""),
            schema::encode_bytes(message));
  if (!(*db)->write(batch, store::durability::synced).ok()) throw std::runtime_error("write");
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

long rss_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

int run(std::size_t size, std::size_t messages, std::size_t online) {
  server::node_options opts;
  opts.actors.max_group_members = size + 1000;
  testing::embedded_node node(opts);
  node.stop();
  seed(node.data_dir(), size);
  node.start();

  std::vector<std::unique_ptr<client::connection>> members;
  for (std::size_t i = 0; i <= online && i < size; ++i) members.push_back(node.login(member_id(i)));
  auto& sender = *members[0];

  const long rss_before = rss_kb();
  auto t = clock_type::now();
  auto first = sender.get_group_profile("big");
  const double activation_ms = ms_since(t);
  const long rss_growth_kb = rss_kb() - rss_before;
  if (!first.ok() || first.group.members != size) {
    std::fprintf(stderr, "size %zu: the group did not load (%s)\n", size, first.error.c_str());
    return 1;
  }
  t = clock_type::now();
  (void)sender.get_group_profile("big");
  const double warm_request_ms = ms_since(t);

  // A warm-up message, then the measured ones.
  if (!sender.send_to_group("big", "warm", "warm").ok()) return 1;
  for (std::size_t i = 1; i < members.size(); ++i) (void)testing::next_message(*members[i]);
  const double cpu0 = cpu_seconds();
  t = clock_type::now();
  for (std::size_t i = 0; i < messages; ++i) {
    auto ack = sender.send_to_group("big", "b" + std::to_string(i), "hello everyone");
    if (!ack.ok()) {
      std::fprintf(stderr, "size %zu: send %zu failed: %s\n", size, i, ack.error.c_str());
      return 1;
    }
  }
  std::size_t delivered = 0;
  for (std::size_t i = 1; i < members.size(); ++i) {
    for (std::size_t n = 0; n < messages; ++n) {
      if (!testing::next_message(*members[i], std::chrono::seconds(30))) break;
      ++delivered;
    }
  }
  const double wall_s = ms_since(t) / 1000;
  const double cpu_us = (cpu_seconds() - cpu0) * 1e6 / static_cast<double>(messages);

  t = clock_type::now();
  auto joined = sender.add_member("big", "newcomer");
  const double join_ms = ms_since(t);
  if (!joined.ok()) return 1;

  std::printf(
      "{\"members\":%zu,\"activation_ms\":%.1f,\"warm_request_ms\":%.2f,\"rss_growth_mb\":%.1f,"
      "\"messages\":%zu,\"online\":%zu,\"delivered\":%zu,\"cpu_us_per_message\":%.0f,"
      "\"msg_per_s\":%.0f,\"join_ms\":%.2f}\n",
      size, activation_ms, warm_request_ms, static_cast<double>(rss_growth_kb) / 1024, messages,
      members.size() - 1, delivered, cpu_us, static_cast<double>(messages) / wall_s, join_ms);
  std::fflush(stdout);
  return delivered == messages * (members.size() - 1) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"What a group's size costs: activation, per message, a join."};
  std::vector<std::size_t> sizes{100, 10000, 100000};
  std::size_t messages = 2000;
  std::size_t online = 10;
  app.add_option("--sizes", sizes, "Group sizes")->delimiter(',');
  app.add_option("--messages", messages, "Messages per size");
  app.add_option("--online", online, "Members logged in (besides the sender)");
  CLI11_PARSE(app, argc, argv);
  int rc = 0;
  for (auto size : sizes) rc |= run(size, messages, online);
  return rc;
}
