// bench/restart_time: issue 15's scale row "a node restarted with N stored messages accepts
// logins in < 1 s". Writes N messages (in conversations of 1,000 messages between users
// s<i> and t<i>) straight into a stopped node's store (bench/seed.hpp), flushed; then starts the
// node and reports the time from start until the first login is accepted, and until the newest page
// of one conversation has been read back whole.
//
//   build/bench/restart_time --messages 10000000

#include "parley/testing/embedded_node.hpp"
#include "seed.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

using namespace parley;

int main(int argc, char** argv) {
  CLI::App app{"Restart time of a node holding many messages"};
  std::uint64_t messages = 10'000'000;
  app.add_option("--messages", messages, "messages to store before the restart");
  CLI11_PARSE(app, argc, argv);
  using clock = std::chrono::steady_clock;
  const auto ms = [](clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  testing::embedded_node node;
  node.stop();
  const auto seed_start = clock::now();
  bench::seed_messages(node.data_dir(), messages);
  const double seed_ms = ms(clock::now() - seed_start);

  const auto t0 = clock::now();
  node.start();
  const double started_ms = ms(clock::now() - t0);
  auto reader = node.login("s0");
  const double login_ms = ms(clock::now() - t0);
  const std::uint64_t newest = std::min(messages, bench::seeded_per_conversation);
  const auto page = reader->pull(bench::seeded_conversation(0), newest > 10 ? newest - 10 : 0, 10);
  const double read_ms = ms(clock::now() - t0);
  const bool whole = page.code == client::ErrorCode::OK &&
                     page.messages.size() == std::min<std::uint64_t>(newest, 10) &&
                     !page.messages.empty() && page.messages.back().seq == newest;
  std::printf(
      "{\"messages\":%llu,\"seed_s\":%.1f,\"start_ms\":%.1f,\"first_login_ms\":%.1f,"
      "\"first_page_ms\":%.1f,\"page_whole\":%s}\n",
      static_cast<unsigned long long>(messages), seed_ms / 1000, started_ms, login_ms, read_ms,
      whole ? "true" : "false");
  return whole ? 0 : 1;
}
