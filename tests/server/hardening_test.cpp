// What a hostile client, a careless operator or a full table does to a node (issue 11): each
// case here failed on the engine before its fix. Each starts its own embedded node.
#define BOOST_TEST_MODULE hardening
#include <boost/test/unit_test.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "../support.hpp"

#include "parley/client/codec.hpp"
#include "parley/runtime/cluster_tls.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/schema/framing.hpp"
#include "parley/schema/log.hpp"
#include "parley/store/store.hpp"
#include "parley/testing/embedded_node.hpp"

#include "client.capnp.h"

#include <capnp/any.h>
#include <capnp/message.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

using namespace parley;
using parley::client::ErrorCode;
using parley::test_support::require_ok;
using parley::testing::embedded_node;
using namespace std::chrono_literals;

namespace {

/// A frame of one segment whose root pointer is garbage: framed right, unreadable inside.
const std::uint8_t unreadable_frame[24] = {0,    0,    0,    0,    2,    0,    0,    0,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

}  // namespace

namespace {

/// The next Kicked push of `c`, skipping messages and events; nullopt if none comes in time.
std::optional<client::push> next_kick(client::connection& c,
                                      std::chrono::milliseconds within = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto p = c.next_push(left);
    if (!p || p->what == client::push::kind::closed) return std::nullopt;
    if (p->what == client::push::kind::kicked) return p;
  }
}

/// The start of a one-segment frame announcing `words` words of content.
std::array<std::uint8_t, 8> segment_table(std::uint32_t words) {
  return {0,
          0,
          0,
          0,
          static_cast<std::uint8_t>(words),
          static_cast<std::uint8_t>(words >> 8),
          static_cast<std::uint8_t>(words >> 16),
          static_cast<std::uint8_t>(words >> 24)};
}

/// Prometheus text (a node's /metrics) as samples, by name (and label).
std::map<std::string, std::string> parse_metrics(const std::string& text) {
  std::map<std::string, std::string> sample;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    sample[line.substr(0, space)] = line.substr(space + 1);
  }
  return sample;
}

client::group_options open_group(bool share_history = false) {
  client::group_options o;
  o.join_policy = wire::JoinPolicy::OPEN;
  o.share_history = share_history;
  return o;
}

std::vector<std::string> bodies(const client::response& page) {
  std::vector<std::string> out;
  for (auto& m : page.messages) out.push_back(m.body);
  return out;
}

/// Runs imctl with `args`; returns its exit code and what it printed (both streams).
std::pair<int, std::string> imctl(const std::string& args) {
  return test_support::run_command(std::string(PARLEY_IMCTL) + " " + args);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(limits)

BOOST_AUTO_TEST_CASE(a_connection_over_the_cap_is_told_and_closed) {
  server::node_options opts;
  opts.gateway.max_connections = 2;
  embedded_node node(opts);
  auto a = node.login("alice");
  auto b = node.login("bob");
  auto extra = node.connect();
  auto refusal = extra->next_unsolicited(10s);
  BOOST_TEST_REQUIRE(refusal.has_value());
  BOOST_TEST((refusal->code == ErrorCode::UNAVAILABLE));
  BOOST_TEST(refusal->error.find("connection limit") != std::string::npos);
  BOOST_TEST(testing::wait_until([&] { return extra->closed(); }));
  BOOST_TEST(node.node().gateway_figures().refused_full == 1u);
  // The others are unaffected, and a freed slot is usable again.
  require_ok(a->send_to_user("bob", "1", "still fine"));
  b.reset();
  BOOST_TEST(testing::wait_until([&] { return node.node().gateway_figures().open == 1u; }));
  auto again = node.login("carol");
  require_ok(again->heartbeat());
}

BOOST_AUTO_TEST_CASE(accepting_backs_off_while_descriptors_run_out_and_resumes) {
  embedded_node node;
  // Allow this process exactly one more descriptor: the client's socket. The node's accept
  // then fails with EMFILE while the connection waits in the listen backlog.
  int highest = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    highest = std::max(highest, std::stoi(entry.path().filename().string()));
  }
  std::vector<int> fillers;  // take every free descriptor up to `highest`: no gaps below it
  for (;;) {
    const int fd = ::open("/dev/null", O_RDONLY);
    BOOST_TEST_REQUIRE(fd >= 0);
    if (fd > highest) {
      ::close(fd);
      break;
    }
    fillers.push_back(fd);
  }
  rlimit saved{};
  BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(highest) + 2;  // one free descriptor: highest + 1
  BOOST_TEST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  // A raw socket: the client library's own event loop would need descriptors too.
  const int waiting = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(node.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto t0 = std::chrono::steady_clock::now();
  const bool connected =
      waiting >= 0 && ::connect(waiting, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  // Three back-offs of 100 ms take at least 200 ms; a loop retrying at once would count
  // millions by then.
  const bool backed_off =
      connected &&
      testing::wait_until([&] { return node.node().gateway_figures().accept_backoffs >= 3; }, 5s);
  const auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  for (int fd : fillers) ::close(fd);
  BOOST_TEST_REQUIRE(connected);
  BOOST_TEST_REQUIRE(backed_off);
  BOOST_TEST((took >= 200ms));
  BOOST_TEST(node.node().gateway_figures().accept_backoffs < 100u);
  // Descriptors are back: the waiting connection is accepted and answered.
  const auto heartbeat =
      client::codec::encode(7, [](wire::ClientFrame::Builder f) { f.setHeartbeat(); });
  const auto bytes = heartbeat.size() * sizeof(std::uint64_t);
  BOOST_TEST_REQUIRE(::write(waiting, heartbeat.data(), bytes) == static_cast<ssize_t>(bytes));
  timeval limit{10, 0};
  ::setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  schema::frame_splitter in(schema::frame_limits{});
  std::optional<schema::frame_words> answer;
  std::array<std::uint8_t, 4096> buf{};
  while (!answer) {
    const ssize_t n = ::read(waiting, buf.data(), buf.size());
    BOOST_TEST_REQUIRE(n > 0);
    in.append(buf.data(), static_cast<std::size_t>(n));
    answer = in.next();
  }
  ::close(waiting);
  const auto decoded = client::codec::decode(*answer);
  BOOST_TEST_REQUIRE(decoded.has_value());
  BOOST_TEST(decoded->request_id == 7u);
  BOOST_TEST(decoded->result.ok());
}

BOOST_AUTO_TEST_CASE(the_default_cap_leaves_descriptors_for_storage) {
  BOOST_TEST(server::derive_max_connections(123, 1024) == 123u);
  rlimit fds{};
  BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &fds) == 0);
  if (fds.rlim_cur != RLIM_INFINITY && fds.rlim_cur > 1024 + 16) {
    BOOST_TEST(server::derive_max_connections(0, 1024) == fds.rlim_cur - 1024);
  }
  embedded_node node;
  BOOST_TEST(node.node().gateway_figures().max_connections ==
             server::derive_max_connections(0, 1024));
}

BOOST_AUTO_TEST_CASE(a_pipelining_client_is_read_only_as_fast_as_it_is_answered) {
  server::node_options opts;
  opts.gateway.max_requests_in_flight = 4;
  opts.gateway.max_inflight_bytes = 64 * 1024;  // node-wide: a few 16 KB sends
  embedded_node node(opts);
  auto flood = node.login("mallory");
  auto bystander = node.login("bob");
  // 300 sends of 16 KB written at once, without waiting for answers.
  constexpr int count = 300;
  const std::string body(16 * 1024, 'x');
  std::vector<std::uint8_t> burst;
  for (int i = 1; i <= count; ++i) {
    auto words = client::codec::encode(1000 + i, [&](wire::ClientFrame::Builder f) {
      client::codec::fill_send_to_user(f, "bob", "f" + std::to_string(i), body, 0, {});
    });
    auto* bytes = reinterpret_cast<const std::uint8_t*>(words.data());
    burst.insert(burst.end(), bytes, bytes + words.size() * sizeof(std::uint64_t));
  }
  std::thread writer([&] { flood->send_raw(burst.data(), burst.size()); });
  // The bystander is served meanwhile.
  require_ok(bystander->send_to_user("alice", "b1", "hello"));
  writer.join();
  // Every send is stored, in order; reading paused along the way.
  std::uint64_t last = 0;
  BOOST_TEST(testing::wait_until(
      [&] {
        auto page = bystander->history_before_seq("dm/bob/mallory", 0, 1);
        if (page.ok() && !page.messages.empty()) last = page.messages[0].seq;
        return last == count;
      },
      60s));
  const auto figures = node.node().gateway_figures();
  BOOST_TEST_MESSAGE("stored " << last << ", reads paused " << figures.paused_reads
                               << " times, bytes in flight " << figures.inflight_bytes);
  BOOST_TEST(figures.paused_reads > 0u);
  // Every answered frame gave its bytes back.
  BOOST_TEST(
      testing::wait_until([&] { return node.node().gateway_figures().inflight_bytes == 0u; }));
}

BOOST_AUTO_TEST_CASE(a_connection_closed_with_requests_in_flight_gives_its_budget_back) {
  server::node_options opts;
  opts.gateway.max_inflight_bytes = 256 * 1024;
  embedded_node node(opts);
  for (int round = 0; round < 5; ++round) {
    auto c = node.login("mallory");
    std::vector<std::uint8_t> burst;
    for (int i = 1; i <= 64; ++i) {
      auto words = client::codec::encode(i, [&](wire::ClientFrame::Builder f) {
        client::codec::fill_send_to_user(f, "bob", std::to_string(round) + "-" + std::to_string(i),
                                         std::string(8000, 'y'), 0, {});
      });
      auto* bytes = reinterpret_cast<const std::uint8_t*>(words.data());
      burst.insert(burst.end(), bytes, bytes + words.size() * sizeof(std::uint64_t));
    }
    c->send_raw(burst.data(), burst.size());
  }  // each hangs up at once
  BOOST_TEST(
      testing::wait_until([&] { return node.node().gateway_figures().inflight_bytes == 0u; }));
  // And the node still reads: a later client is served.
  auto later = node.login("alice");
  require_ok(later->send_to_user("bob", "after", "after"));
}

BOOST_AUTO_TEST_CASE(a_connection_over_its_request_rate_is_read_no_faster) {
  server::node_options opts;
  opts.gateway.connection_rate = {20, 5};
  opts.actors.user_rate = {0, 0};
  embedded_node node(opts);
  auto c = node.login("alice");  // the login takes one of the 5
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 25; ++i) require_ok(c->send_to_user("bob", "r" + std::to_string(i), "x"));
  // 26 frames at 20/s after a burst of 5 (plus the one that goes into debt): no less than
  // (26 - 6) / 20 = 1 s.
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 950ms));
  BOOST_TEST(node.node().gateway_figures().throttled_reads > 0u);
}

BOOST_AUTO_TEST_CASE(a_connection_over_its_byte_rate_is_read_no_faster) {
  server::node_options opts;
  opts.gateway.connection_byte_rate = {100000, 100000};
  embedded_node node(opts);
  auto c = node.login("alice");
  const std::string body(50000, 'b');
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) require_ok(c->send_to_user("bob", "b" + std::to_string(i), body));
  // 250 kB at 100 kB/s after a burst of 100 kB (plus the frame that goes into debt): no less
  // than (250 - 100 - 50) / 100 = 1 s.
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 950ms));
  BOOST_TEST(node.node().gateway_figures().throttled_reads > 0u);
}

BOOST_AUTO_TEST_CASE(the_user_rate_spans_the_users_connections_and_is_a_retriable_error) {
  server::node_options opts;
  opts.gateway.connection_rate = {0, 0};
  opts.actors.user_rate = {5, 10};
  embedded_node node(opts);
  auto phone = node.login("alice", "phone");
  auto laptop = node.login("alice", "laptop");
  auto other = node.login("bob");
  int ok = 0, limited = 0;
  for (int i = 0; i < 20; ++i) {
    for (auto* c : {phone.get(), laptop.get()}) {
      auto r =
          c->send_to_user("bob", "u" + std::to_string(i) + (c == phone.get() ? "p" : "l"), "x");
      if (r.ok()) ++ok;
      if (r.code == ErrorCode::RATE_LIMITED) ++limited;
    }
  }
  BOOST_TEST(limited > 0);
  BOOST_TEST(ok >= 10);  // the burst
  BOOST_TEST(ok < 30);
  BOOST_TEST(ok + limited == 40);
  BOOST_TEST(client::retriable(ErrorCode::RATE_LIMITED));
  require_ok(phone->heartbeat());  // heartbeats are never limited
  require_ok(other->send_to_user("alice", "b", "bob is not alice"));
}

BOOST_AUTO_TEST_CASE(a_user_has_at_most_the_configured_sessions) {
  server::node_options opts;
  opts.actors.max_sessions_per_user = 2;
  embedded_node node(opts);
  auto one = node.login("alice", "one");
  auto two = node.login("alice", "two");
  auto c = node.connect();
  auto third = c->login(node.token("alice"), "three");
  BOOST_TEST((third.code == ErrorCode::LIMIT_EXCEEDED));
  // The same device again replaces its session (the old one is kicked), within the cap.
  auto again = node.login("alice", "two");
  auto kicked = next_kick(*two);
  BOOST_TEST_REQUIRE(kicked.has_value());
  BOOST_TEST((kicked->reason == wire::KickReason::LOGGED_IN_ELSEWHERE));
  // A closed session frees its place.
  one.reset();
  BOOST_TEST(testing::wait_until([&] {
    auto c3 = node.connect();
    return c3->login(node.token("alice"), "three").ok();
  }));
}

BOOST_AUTO_TEST_CASE(a_group_has_at_most_the_configured_members) {
  server::node_options opts;
  opts.actors.max_group_members = 3;
  embedded_node node(opts);
  auto alice = node.login("alice");
  require_ok(alice->create_group("capped", "Capped", open_group()));
  require_ok(alice->add_member("capped", "bob"));
  require_ok(alice->add_member("capped", "carol"));
  BOOST_TEST((alice->add_member("capped", "dave").code == ErrorCode::LIMIT_EXCEEDED));
  auto erin = node.login("erin");
  BOOST_TEST((erin->join_group("capped").code == ErrorCode::LIMIT_EXCEEDED));
}

BOOST_AUTO_TEST_CASE(a_user_is_in_at_most_the_configured_groups) {
  server::node_options opts;
  opts.actors.max_groups_per_user = 2;
  embedded_node node(opts);
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  require_ok(alice->create_group("a1", "A1"));
  require_ok(alice->create_group("a2", "A2"));
  BOOST_TEST((alice->create_group("a3", "A3").code == ErrorCode::LIMIT_EXCEEDED));
  require_ok(alice->create_group("a2", "A2"));  // a retry of one she has is fine
  require_ok(bob->create_group("b1", "B1", open_group()));
  BOOST_TEST((alice->join_group("b1").code == ErrorCode::LIMIT_EXCEEDED));
  BOOST_TEST((bob->add_member("b1", "alice").code == ErrorCode::LIMIT_EXCEEDED));
  require_ok(alice->leave_group("a1"));
  require_ok(alice->join_group("b1"));
}

BOOST_AUTO_TEST_CASE(a_user_stores_at_most_its_quota_across_connections_and_restarts) {
  server::node_options opts;
  opts.actors.max_stored_bytes_per_user = 100000;
  opts.actors.stored_bytes_lease = 30000;  // several leases, and a last one cut to what is left
  embedded_node node(opts);
  const std::string body(9000, 'q');
  {
    auto alice = node.login("alice");
    for (int i = 0; i < 11; ++i) {  // 99,000 bytes
      require_ok(alice->send_to_user("bob", "q" + std::to_string(i), body));
    }
    auto over = alice->send_to_user("bob", "q11", body);
    BOOST_TEST((over.code == ErrorCode::LIMIT_EXCEEDED));
    BOOST_TEST(over.error.find("storage quota") != std::string::npos);
    require_ok(node.login("bob")->send_to_user("alice", "b", body));  // others are unaffected
  }  // closing gives the unspent 1,000 bytes back
  auto again = node.login("alice", "laptop");
  BOOST_TEST(testing::wait_until(
      [&] { return again->send_to_user("bob", "last", std::string(1000, 'l')).ok(); }));
  BOOST_TEST((again->send_to_user("bob", "one-more", "x").code == ErrorCode::LIMIT_EXCEEDED));
  again.reset();
  node.restart();  // the count is stored
  BOOST_TEST(
      (node.login("alice")->send_to_user("bob", "after", "x").code == ErrorCode::LIMIT_EXCEEDED));
  auto history = node.login("bob")->pull(runtime::dm_conversation("alice", "bob"), 0, 100);
  require_ok(history);
  BOOST_TEST(history.messages.size() == 13u);  // 11 + bob's + the last 1,000 bytes
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(deadlines)

BOOST_AUTO_TEST_CASE(an_unauthenticated_socket_cannot_announce_a_large_frame) {
  embedded_node node;
  auto c = node.connect();
  const auto header = segment_table(64 * 1024 / 8);  // 64 KiB, under the 1 MiB logged-in limit
  c->send_raw(header.data(), header.size());
  auto answer = c->next_unsolicited(10s);
  // (A CI run once saw no answer here, and it did not recur in 500 local runs: if it does, this
  // says whether the node counted the bad frame and whether the client saw the socket close.)
  auto figures = parse_metrics(node.node().metrics());
  BOOST_TEST_INFO("closed: " << c->closed()
                             << "; bad frames: " << figures["parley_bad_frames_total"]
                             << "; connections: " << figures["parley_connections"]);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST((answer->code == ErrorCode::FRAME_TOO_LARGE));
  BOOST_TEST(answer->error.find("before login") != std::string::npos);
  BOOST_TEST(testing::wait_until([&] { return c->closed(); }));
  // Logged in, the same announcement is fine (and then must be completed).
  auto alice = node.login("alice");
  alice->send_raw(header.data(), header.size());
  BOOST_TEST(!alice->next_unsolicited(200ms).has_value());
}

BOOST_AUTO_TEST_CASE(a_frame_dribbled_byte_by_byte_is_cut_at_the_frame_deadline) {
  server::node_options opts;
  opts.actors.frame_timeout = 300ms;
  opts.actors.heartbeat_timeout = 60s;
  embedded_node node(opts);
  auto slow = node.login("mallory");
  const auto header = segment_table(1024 * 1024 / 8 - 1);
  slow->send_raw(header.data(), header.size());
  // Bytes keep coming, but the frame never completes.
  std::atomic<bool> stop{false};
  std::thread dribble([&] {
    const std::uint8_t byte = 0;
    while (!stop && !slow->closed()) {
      slow->send_raw(&byte, 1);
      std::this_thread::sleep_for(20ms);  // the attacker's pace, not a synchronisation
    }
  });
  auto kicked = next_kick(*slow);
  stop = true;
  dribble.join();
  BOOST_TEST_REQUIRE(kicked.has_value());
  BOOST_TEST((kicked->reason == wire::KickReason::FRAME_TIMEOUT));
}

BOOST_AUTO_TEST_CASE(a_session_ends_when_its_token_expires_unless_refreshed) {
  embedded_node node;
  // Both tokens expire in two seconds; one connection refreshes its login with a new token.
  auto stale = node.connect();
  require_ok(stale->login(node.token("alice", 2), "stale"));
  auto fresh = node.connect();
  require_ok(fresh->login(node.token("bob", 2), "fresh"));
  require_ok(fresh->login(node.token("bob", 3600), "fresh"));  // same user and device: refresh
  BOOST_TEST(
      (fresh->login(node.token("carol", 3600), "fresh").code == ErrorCode::ALREADY_LOGGED_IN));
  auto kicked = next_kick(*stale);
  BOOST_TEST_REQUIRE(kicked.has_value());
  BOOST_TEST((kicked->reason == wire::KickReason::TOKEN_EXPIRED));
  // The same sweep would have ended the refreshed one too; it goes on.
  require_ok(fresh->heartbeat());
  require_ok(fresh->send_to_user("alice", "1", "still here"));
}

BOOST_AUTO_TEST_CASE(a_login_timeout_says_so) {
  server::node_options opts;
  opts.actors.login_timeout = 200ms;
  embedded_node node(opts);
  auto c = node.connect();
  auto kicked = next_kick(*c);
  BOOST_TEST_REQUIRE(kicked.has_value());
  BOOST_TEST((kicked->reason == wire::KickReason::LOGIN_TIMEOUT));
}

BOOST_AUTO_TEST_CASE(a_stopping_node_tells_its_clients_why) {
  embedded_node node;
  auto alice = node.login("alice");
  node.stop();
  auto kicked = next_kick(*alice);
  BOOST_TEST_REQUIRE(kicked.has_value());
  BOOST_TEST((kicked->reason == wire::KickReason::SERVER_SHUTDOWN));
}

BOOST_AUTO_TEST_CASE(the_app_can_end_a_users_sessions) {
  embedded_node node;
  auto phone = node.login("alice", "phone");
  auto laptop = node.login("alice", "laptop");
  auto bob = node.login("bob");
  node.node().kick_user("alice", "phone", "banned for a day");
  auto kicked = next_kick(*phone);
  BOOST_TEST_REQUIRE(kicked.has_value());
  BOOST_TEST((kicked->reason == wire::KickReason::KICKED_BY_APP));
  BOOST_TEST(kicked->detail == "banned for a day");
  require_ok(laptop->heartbeat());
  node.node().kick_user("alice", "", "banned");
  BOOST_TEST(next_kick(*laptop).has_value());
  require_ok(bob->heartbeat());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(group_access)

BOOST_AUTO_TEST_CASE(groups_are_invite_only_by_default) {
  embedded_node node;
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  auto carol = node.login("carol");
  auto created = alice->create_group("club", "Club");
  require_ok(created);
  BOOST_TEST((created.join_policy == wire::JoinPolicy::INVITE_ONLY));
  BOOST_TEST((bob->join_group("club").code == ErrorCode::FORBIDDEN));
  BOOST_TEST((bob->add_member("club", "bob").code == ErrorCode::NOT_MEMBER));
  require_ok(alice->add_member("club", "bob"));
  BOOST_TEST((bob->add_member("club", "carol").code == ErrorCode::FORBIDDEN));  // members don't
  require_ok(alice->add_member("club", "bob"));                                 // idempotent
  BOOST_TEST((carol->pull("group/club", 0).code == ErrorCode::NOT_MEMBER));
}

BOOST_AUTO_TEST_CASE(a_removed_member_cannot_rejoin_or_read_what_was_said_while_out) {
  embedded_node node;
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  require_ok(alice->create_group("lounge", "Lounge", open_group()));
  require_ok(bob->join_group("lounge"));
  require_ok(alice->send_to_group("lounge", "1", "before"));
  require_ok(alice->kick_member("lounge", "bob"));
  require_ok(alice->send_to_group("lounge", "2", "while bob is out"));
  BOOST_TEST((bob->join_group("lounge").code == ErrorCode::FORBIDDEN));
  require_ok(alice->add_member("lounge", "bob"));  // lifts the bar
  require_ok(alice->send_to_group("lounge", "3", "welcome back"));
  auto page = bob->pull("group/lounge", 0);
  require_ok(page);
  BOOST_TEST(bodies(page) == std::vector<std::string>{"welcome back"});
  auto history = bob->history_before_seq("group/lounge", 0);
  require_ok(history);
  BOOST_TEST(bodies(history) == std::vector<std::string>{"welcome back"});
  // Leaving by oneself bars nothing.
  require_ok(bob->leave_group("lounge"));
  require_ok(bob->join_group("lounge"));
}

BOOST_AUTO_TEST_CASE(a_group_that_shares_history_shows_it_to_new_members) {
  embedded_node node;
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  auto created = alice->create_group("archive", "Archive", open_group(true));
  BOOST_TEST(created.share_history);
  require_ok(alice->send_to_group("archive", "1", "one"));
  require_ok(alice->send_to_group("archive", "2", "two"));
  require_ok(bob->join_group("archive"));
  auto page = bob->pull("group/archive", 0);
  BOOST_TEST(bodies(page) == (std::vector<std::string>{"one", "two"}));
}

BOOST_AUTO_TEST_CASE(the_last_member_leaving_dissolves_the_group_and_frees_its_id) {
  embedded_node node;
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  require_ok(alice->create_group("temp", "Temp"));
  require_ok(alice->send_to_group("temp", "1", "secret of the old group"));
  require_ok(alice->leave_group("temp"));
  BOOST_TEST((alice->send_to_group("temp", "2", "x").code == ErrorCode::NOT_FOUND));
  // The id is free again; even with shared history, the old group's messages stay hidden.
  auto again = bob->create_group("temp", "Temp again", open_group(true));
  require_ok(again);
  BOOST_TEST((again.role == wire::GroupRole::OWNER));
  BOOST_TEST(bob->pull("group/temp", 0).messages.empty());
  auto ack = bob->send_to_group("temp", "b1", "fresh start");
  require_ok(ack);
  BOOST_TEST(ack.seq == 2u);  // seqs go on: the log is the same
  require_ok(alice->join_group("temp"));
  BOOST_TEST(bodies(alice->pull("group/temp", 0)) == std::vector<std::string>{"fresh start"});
  // And after a restart (the state is on disk).
  node.restart();
  auto carol = node.login("carol");
  require_ok(carol->join_group("temp"));
  BOOST_TEST(bodies(carol->pull("group/temp", 0)) == std::vector<std::string>{"fresh start"});
}

BOOST_AUTO_TEST_CASE(server_chosen_group_ids_are_unguessable) {
  embedded_node node;
  auto alice = node.login("alice");
  auto a = alice->create_group("", "A");
  auto b = alice->create_group("", "B");
  require_ok(a);
  require_ok(b);
  BOOST_TEST(a.group_id.size() == 33u);  // "g" + 128 random bits in hex
  BOOST_TEST(a.group_id != b.group_id);
  BOOST_TEST(a.group_id.find_first_not_of("0123456789abcdef", 1) == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(validation)

BOOST_AUTO_TEST_CASE(bad_fields_are_refused_with_bad_request) {
  embedded_node node;
  auto c = node.connect();
  BOOST_TEST((c->login(node.token("alice"), "dev\x01ice").code == ErrorCode::BAD_REQUEST));
  BOOST_TEST((c->login(node.token("alice"), "dev\x1b[31m").code == ErrorCode::BAD_REQUEST));
  require_ok(c->login(node.token("alice"), "phone-1"));
  auto bob = node.login("bob");
  BOOST_TEST((c->send_to_user("bob", "e", "").code == ErrorCode::BAD_REQUEST));
  require_ok(c->send_to_user("bob", "1", "one"));
  // History before time 0 would mean "nothing"; it used to return the newest messages.
  BOOST_TEST((c->history_before_time("dm/alice/bob", 0).code == ErrorCode::BAD_REQUEST));
  // A cursor past the end.
  BOOST_TEST((c->mark_read("dm/alice/bob", 2).code == ErrorCode::BAD_REQUEST));
  require_ok(c->mark_read("dm/alice/bob", 1));
  // A send target this server does not know (a newer client's union member).
  auto unknown = c->call([](wire::ClientFrame::Builder f) {
    auto send = f.initSend();
    send.getTarget().setUser("bob");
    send.setClientMsgId("u1");
    send.setBody(capnp::Data::Reader(reinterpret_cast<const kj::byte*>("x"), 1));
    // The target union's discriminant is the first 16 bits of Send's data section.
    auto data = capnp::AnyStruct::Builder(wire::Send::Builder(send)).getDataSection();
    data[0] = 7;
    data[1] = 0;
  });
  BOOST_TEST((unknown.code == ErrorCode::BAD_REQUEST));
  BOOST_TEST(bob->pull("dm/alice/bob", 0).messages.size() == 1u);
}

BOOST_AUTO_TEST_CASE(
    a_full_disk_or_descriptor_table_gives_a_generic_error_and_writes_resume_after) {
  // Storage could not create a file while the descriptor table was full: every later write
  // used to fail until a restart, and clients were sent RocksDB's text with server paths.
  for (auto fault :
       {store::fault_injector::fault::out_of_descriptors, store::fault_injector::fault::no_space}) {
    server::node_options opts;
    opts.storage_faults = std::make_shared<store::fault_injector>();
    embedded_node node(opts);
    auto alice = node.login("alice");
    auto bob = node.login("bob");
    require_ok(alice->send_to_user("bob", "1", "before"));
    opts.storage_faults->set(fault);
    auto failed = alice->send_to_user("bob", "2", "during");
    BOOST_TEST((failed.code == ErrorCode::UNAVAILABLE));
    BOOST_TEST(failed.error == "storage is temporarily unavailable; retry later");
    BOOST_TEST(failed.error.find(node.data_dir()) == std::string::npos);
    // Reads go on. The conversation reloads from the store after a failed write, and a read
    // that reaches it as it goes is answered `unavailable` (retriable), as a client retries.
    BOOST_TEST(testing::wait_until([&] { return bob->pull("dm/alice/bob", 0).ok(); }));
    opts.storage_faults->set(store::fault_injector::fault::none);
    // The same send, retried, lands once and in order: nothing was acked that is not stored.
    client::response retried;
    BOOST_TEST(testing::wait_until([&] {
      retried = alice->send_to_user("bob", "2", "during");
      return retried.ok();
    }));
    require_ok(retried);
    BOOST_TEST(retried.seq == 2u);
    auto all = bob->pull("dm/alice/bob", 0);
    BOOST_TEST(bodies(all) == (std::vector<std::string>{"before", "during"}));
  }
}

BOOST_AUTO_TEST_CASE(a_node_whose_disk_is_full_still_stops_and_keeps_what_it_acked) {
  // The store flushed its memtables on close and RocksDB waited for a flush that could not
  // succeed: a node stopped with a full disk never ended.
  server::node_options opts;
  opts.storage_faults = std::make_shared<store::fault_injector>();
  embedded_node node(opts);
  {
    auto alice = node.login("alice");
    require_ok(alice->send_to_user("bob", "1", "before"));
    opts.storage_faults->set(store::fault_injector::fault::no_space);
    auto failed = alice->send_to_user("bob", "2", "during");
    BOOST_TEST((failed.code == ErrorCode::UNAVAILABLE));
  }
  node.stop();
  opts.storage_faults->set(store::fault_injector::fault::none);
  node.start();
  auto bob = node.login("bob");
  BOOST_TEST(bodies(bob->pull("dm/alice/bob", 0)) == (std::vector<std::string>{"before"}));
}

BOOST_AUTO_TEST_CASE(clients_never_see_library_text) {
  embedded_node node;
  auto c = node.connect();
  c->send_raw(unreadable_frame, sizeof unreadable_frame);
  auto answer = c->next_unsolicited(10s);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST((answer->code == ErrorCode::MALFORMED_FRAME));
  BOOST_TEST(answer->error == "the frame is not a valid ClientFrame");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(operator_tools)

namespace {

/// Captures what this process writes to stderr (fd 2) while alive, into a temp file.
class stderr_capture {
 public:
  stderr_capture() : path_(dir_.path() + "/stderr") {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~stderr_capture() { restore(); }
  /// Stops capturing; returns the lines written.
  std::vector<std::string> lines() {
    restore();
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }
  testing::temp_dir dir_;
  std::string path_;
  int saved_ = -1;
};

}  // namespace

/// Sets the log's level and format for a scope, then back to the defaults.
struct log_settings {
  log_settings(log::level l, log::format f) {
    log::set_level(l);
    log::set_format(f);
  }
  ~log_settings() {
    log::set_level(log::level::info);
    log::set_format(log::format::text);
  }
};

/// The log lines captured, parsed as JSON, by event name (each must parse).
std::map<std::string, std::vector<nlohmann::json>> json_events(stderr_capture& captured) {
  std::map<std::string, std::vector<nlohmann::json>> events;
  for (const auto& line : captured.lines()) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    BOOST_TEST_REQUIRE(!parsed.is_discarded(), line);
    BOOST_TEST(parsed.contains("ts"));
    BOOST_TEST(parsed.contains("level"));
    events[parsed.value("event", std::string())].push_back(parsed);
  }
  return events;
}

BOOST_AUTO_TEST_CASE(the_log_is_json_lines_with_the_peer_of_what_clients_did) {
  stderr_capture captured;
  {
    log_settings settings(log::level::debug, log::format::json);
    embedded_node node;
    auto refused = node.connect();
    BOOST_TEST((refused->login("v2.forged", "d1").code == ErrorCode::TOKEN_INVALID));
    auto c = node.login("alice", "laptop");
    c->send_raw(unreadable_frame, sizeof unreadable_frame);
    BOOST_TEST_REQUIRE(c->next_unsolicited(10s).has_value());
  }
  auto events = json_events(captured);
  BOOST_TEST_REQUIRE(events["login_refused"].size() == 1u);
  const auto& refusal = events["login_refused"][0];
  BOOST_TEST(refusal.value("peer", std::string()).rfind("127.0.0.1:", 0) == 0u);
  BOOST_TEST(refusal.value("reason", std::string()) == "bad_token");
  BOOST_TEST(refusal.value("level", std::string()) == "info");
  BOOST_TEST_REQUIRE(events["login"].size() == 1u);
  BOOST_TEST(events["login"][0].value("user", std::string()) == "alice");
  BOOST_TEST(events["login"][0].value("level", std::string()) == "debug");
  BOOST_TEST_REQUIRE(events["bad_frame"].size() == 1u);
  BOOST_TEST(events["bad_frame"][0].value("user", std::string()) == "alice");
  BOOST_TEST(events["bad_frame"][0].value("peer", std::string()).rfind("127.0.0.1:", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_burst_of_bad_frames_is_answered_in_full_while_the_log_is_busy) {
  // Regression: frames already buffered when the in-flight limit stopped their extraction
  // waited for the socket to become readable again, which it never did once the client had
  // written everything, if answers (here slowed by debug logging) freed the limit between the
  // gateway's two checks. Seen in the ASan lane: 76 to 277 of 300 answers, then silence.
  stderr_capture captured;
  log_settings settings(log::level::debug, log::format::json);
  embedded_node node;
  // The failure showed (two runs in three under ASan) with a refused client beside.
  auto refused = node.connect();
  BOOST_TEST((refused->login("v2.forged", "d1").code == ErrorCode::TOKEN_INVALID));
  auto c = node.login("alice", "laptop");
  constexpr int flood = 300;
  for (int i = 0; i < flood; ++i) c->send_raw(unreadable_frame, sizeof unreadable_frame);
  for (int i = 0; i < flood; ++i) {
    auto answer = c->next_unsolicited(20s);
    BOOST_TEST_REQUIRE(answer.has_value(), "answers so far: " << i);
    BOOST_TEST_REQUIRE((answer->code == ErrorCode::MALFORMED_FRAME));
  }
  BOOST_TEST(!c->closed());
}

BOOST_AUTO_TEST_CASE(a_flood_of_one_event_is_rate_limited_per_event) {
  stderr_capture captured;
  {
    log_settings settings(log::level::info, log::format::json);
    // 300 at once: the burst of 50 passes, the rest (in well under a second) mostly not.
    for (int i = 0; i < 300; ++i) {
      log::write_limited(log::level::warn, "test_flood", {{"n", std::to_string(i)}});
    }
    log::info("test_other");  // another event has its own budget
  }
  auto events = json_events(captured);
  const auto lines = events["test_flood"].size();
  BOOST_TEST(lines >= 50u);
  BOOST_TEST(lines < 100u);
  BOOST_TEST(events["test_flood"][0].value("n", std::string()) == "0");
  BOOST_TEST(events["test_other"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(imctl_lists_and_kicks_sessions_through_the_app_port) {
  server::node_options opts;
  opts.app_enabled = true;
  embedded_node node(opts);
  const std::string app = " --app 127.0.0.1:" + std::to_string(node.node().app_port()) +
                          " --data-dir " + node.data_dir();
  auto phone = node.login("gus", "phone");
  auto laptop = node.login("gus", "laptop");
  auto [rc, out] = imctl("user sessions gus --json" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("\"device\":\"phone\"") != std::string::npos, out);
  BOOST_TEST(out.find("\"device\":\"laptop\"") != std::string::npos, out);
  std::tie(rc, out) = imctl("user kick gus --device phone" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "kicked 1 session\n");
  std::tie(rc, out) = imctl("user sessions gus" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("laptop\ttype 5\tsince ") == 0u, out);
  BOOST_TEST(out.find("phone") == std::string::npos, out);
  // A wrong secret and a bad id: the node's answer, and a failing exit code.
  testing::temp_dir other;
  { std::ofstream(other.path() + "/secret") << std::string(32, 'w'); }
  std::tie(rc, out) =
      imctl("user sessions gus --app 127.0.0.1:" + std::to_string(node.node().app_port()) +
            " --data-dir " + other.path());
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("not_authenticated: wrong secret") != std::string::npos, out);
  std::tie(rc, out) = imctl("user kick no/one" + app);
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("bad_request: invalid user id") != std::string::npos, out);
  // A single node's status, through the same port (once the kicked phone's socket is closed).
  BOOST_TEST_REQUIRE(testing::wait_until([&] { return node.node().stats().connections == 1u; }));
  std::tie(rc, out) = imctl("cluster status --via-app" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("node local: shard map epoch 1, 64 shards\n") == 0u, out);
  BOOST_TEST(out.find("local           64\n") != std::string::npos, out);
  BOOST_TEST(out.find("connections 1, logins 2,") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(imctl_bans_unbans_and_revokes_through_the_app_port) {
  server::node_options opts;
  opts.app_enabled = true;
  embedded_node node(opts);
  const std::string app = " --app 127.0.0.1:" + std::to_string(node.node().app_port()) +
                          " --data-dir " + node.data_dir();
  auto phone = node.login("hal", "phone");
  auto [rc, out] = imctl("user ban hal --for 1h --reason spam" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("banned hal until ") == 0u, out);
  BOOST_TEST(out.find("; kicked 1 session\n") != std::string::npos, out);
  auto refused = node.connect()->login(node.token("hal"), "phone");
  BOOST_TEST((refused.code == wire::ErrorCode::BANNED));
  BOOST_TEST(refused.error.find(": spam") != std::string::npos, refused.error);
  std::tie(rc, out) = imctl("user unban hal --json" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "{\"wasBanned\":true}\n");
  // A token signed by imctl for one device type, then revoked through the node.
  std::tie(rc, out) = imctl("token issue hal --device-type web --data-dir " + node.data_dir());
  BOOST_TEST_REQUIRE(rc == 0, out);
  const std::string web_token = out.substr(0, out.size() - 1);
  BOOST_TEST((node.connect()->login(web_token, "tab", wire::DeviceType::IOS).code ==
              wire::ErrorCode::TOKEN_INVALID));
  auto web = node.connect();
  require_ok(web->login(web_token, "tab", wire::DeviceType::WEB));
  std::tie(rc, out) = imctl("token revoke hal" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "revoked the tokens of hal; kicked 1 session\n");
  BOOST_TEST((node.connect()->login(web_token, "tab", wire::DeviceType::WEB).code ==
              wire::ErrorCode::TOKEN_REVOKED));
  // Issued by the node after the revocation: it logs in.
  std::tie(rc, out) = imctl("token issue hal --via-app" + app);
  BOOST_TEST_REQUIRE(rc == 0, out);
  require_ok(node.connect()->login(out.substr(0, out.size() - 1), "phone"));
  std::tie(rc, out) = imctl("token issue hal --device-type fridge --data-dir " + node.data_dir());
  BOOST_TEST(rc == 2);
  BOOST_TEST(out.find("unknown device type 'fridge'") != std::string::npos, out);
  std::tie(rc, out) = imctl("user ban hal --reason " + std::string(300, 'x') + app);
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("bad_request: reason") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(imctl_top_reports_each_node_from_its_metrics) {
  server::node_options opts;
  opts.http_enabled = true;
  embedded_node node(opts);
  auto alice = node.login("alice");
  const std::string http = " --http 127.0.0.1:" + std::to_string(node.node().http_port());
  auto [rc, out] = imctl("top --count 1 --interval 100 --json" + http);
  BOOST_TEST(rc == 0, out);
  // One line for the one node; the rates depend on timing, the rest does not.
  BOOST_TEST(std::count(out.begin(), out.end(), '\n') == 1);
  BOOST_TEST(
      out.rfind("{\"node\":\"local\",\"reached\":true,\"epoch\":1,\"connections\":1,", 0) == 0u,
      out);
  BOOST_TEST(out.find("\"serving\":true}") != std::string::npos, out);
  std::tie(rc, out) = imctl("top --count 1 --interval 100 --http 127.0.0.1:1");
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("no metrics from http://127.0.0.1:1/metrics") != std::string::npos, out);
  std::tie(rc, out) = imctl("top --interval 5" + http);  // below 100 ms
  BOOST_TEST(rc != 0);
}

BOOST_AUTO_TEST_CASE(imctl_manages_groups_through_the_app_port) {
  server::node_options opts;
  opts.app_enabled = true;
  embedded_node node(opts);
  const std::string app = " --app 127.0.0.1:" + std::to_string(node.node().app_port()) +
                          " --data-dir " + node.data_dir();
  auto [rc, out] = imctl("group create crew --owner ivy --name Crew --members jon kim" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "created crew with 3 members\n");
  std::tie(rc, out) = imctl("group add crew lea" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "crew has 4 members\n");
  std::tie(rc, out) = imctl("group remove crew jon nobody --json" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "{\"removed\":1}\n");
  std::tie(rc, out) = imctl("group info crew" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out ==
             "crew \"Crew\": owner ivy, 3 members, invite-only\n"
             "  ivy\towner\n  kim\tmember\n  lea\tmember\n");
  std::tie(rc, out) = imctl("group info crew --json" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("\"memberList\":[{\"role\":\"owner\",\"user\":\"ivy\"}") != std::string::npos,
             out);
  require_ok(node.login("kim")->send_to_group("crew", "k1", "hello crew"));
  std::tie(rc, out) = imctl("actor inspect group/crew" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("group/crew on local, shard ") == 0u, out);
  BOOST_TEST(out.find("  members\t3\n") != std::string::npos, out);
  std::tie(rc, out) = imctl("actor inspect conv/group/crew --json" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("\"last_seq\":1") != std::string::npos, out);
  std::tie(rc, out) = imctl("actor list --prefix group/" + app);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "group/crew\n");
  std::tie(rc, out) = imctl("actor inspect bogus" + app);
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("bad_request: invalid entity id") != std::string::npos, out);
  std::tie(rc, out) = imctl("group info nocrew" + app);
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("not_found: no group nocrew") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(the_http_port_serves_metrics_health_and_readiness) {
  server::node_options opts;
  opts.http_enabled = true;  // on a free port
  embedded_node node(opts);
  BOOST_TEST_REQUIRE(node.node().http_port() != 0u);
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  require_ok(alice->send_to_user("bob", "m1", "one"));
  require_ok(alice->send_to_user("bob", "m2", "two"));
  BOOST_TEST_REQUIRE(testing::next_message(*bob).has_value());
  BOOST_TEST_REQUIRE(testing::next_message(*bob).has_value());
  // Refused logins, counted by reason (the refused connections are closed again).
  BOOST_TEST((node.connect()->login("v2.forged", "x").code == ErrorCode::TOKEN_INVALID));
  BOOST_TEST(
      (node.connect()->login(node.token("carol", -10), "x").code == ErrorCode::TOKEN_EXPIRED));
  // Those two hung up as they went out of scope; the node sees it a moment later (the ASan
  // lane once scraped before it had: 3 connections, not 2).
  BOOST_TEST_REQUIRE(testing::wait_until([&] {
    return node.node().stats().connections == 2u && node.node().gateway_figures().open == 2u;
  }));

  httplib::Client http("127.0.0.1", node.node().http_port());
  auto metrics = http.Get("/metrics");
  BOOST_TEST_REQUIRE(static_cast<bool>(metrics));
  BOOST_TEST(metrics->status == 200);
  BOOST_TEST(metrics->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0u);
  // Every sample line, by name (and label); HELP and TYPE come before each metric.
  std::map<std::string, std::string> sample;
  std::istringstream lines(metrics->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    sample[line.substr(0, space)] = line.substr(space + 1);
  }
  BOOST_TEST(sample["parley_node_info{node=\"local\"}"] == "1");
  BOOST_TEST(sample["parley_serving"] == "1");
  BOOST_TEST(sample["parley_owned_shards"] == "64");
  BOOST_TEST(sample["parley_connections"] == "2");
  BOOST_TEST(sample["parley_logins_total"] == "2");
  BOOST_TEST(sample["parley_messages_stored_total"] == "2");
  BOOST_TEST(sample["parley_pushes_total"] == "2");
  BOOST_TEST(sample["parley_client_sockets"] == "2");
  BOOST_TEST(sample["parley_read_pauses_total{cause=\"rate\"}"] == "0");
  BOOST_TEST(sample["parley_logins_refused_total{reason=\"bad_token\"}"] == "1");
  BOOST_TEST(sample["parley_logins_refused_total{reason=\"expired\"}"] == "1");
  BOOST_TEST(sample["parley_logins_refused_total{reason=\"banned\"}"] == "0");
  BOOST_TEST(sample["parley_shard_moves_total"] == "0");
  BOOST_TEST(metrics->body.find("# TYPE parley_logins_total counter\n") != std::string::npos);
  // Distributions: two sends acked, each durable after one or more group commits (each of at
  // least one batch: the +Inf bucket holds them all, the first bound none below one batch).
  BOOST_TEST(sample["parley_send_ack_seconds_count"] == "2");
  BOOST_TEST(sample["parley_send_ack_seconds_bucket{le=\"+Inf\"}"] == "2");
  BOOST_TEST(metrics->body.find("# TYPE parley_send_ack_seconds histogram\n") != std::string::npos);
  BOOST_TEST(sample["parley_commit_write_seconds_count"] ==
             sample["parley_commit_group_batches_count"]);
  BOOST_TEST(std::stoull(sample["parley_commit_group_batches_count"]) >= 2u);
  // alice and bob, their one conversation, and nothing else of those kinds.
  BOOST_TEST(sample["parley_active_actors_by_kind{kind=\"user\"}"] == "2");
  BOOST_TEST(sample["parley_active_actors_by_kind{kind=\"conversation\"}"] == "1");
  BOOST_TEST(sample["parley_active_actors_by_kind{kind=\"group\"}"] == "0");
  BOOST_TEST(sample["parley_rocksdb_writes_stopped"] == "0");
  BOOST_TEST(std::stoull(sample["parley_rocksdb_memtable_bytes"]) > 0u);
  BOOST_TEST(metrics->body.find("# TYPE parley_rocksdb_flushes_total counter\n") !=
             std::string::npos);
  BOOST_TEST(sample["parley_rocksdb_compactions_total"] == "0");

  auto health = http.Get("/healthz");
  BOOST_TEST_REQUIRE(static_cast<bool>(health));
  BOOST_TEST(health->status == 200);
  auto ready = http.Get("/readyz");
  BOOST_TEST_REQUIRE(static_cast<bool>(ready));
  BOOST_TEST(ready->status == 200);
  BOOST_TEST(ready->body == "ready\n");
  auto nothing = http.Get("/nothing");
  BOOST_TEST_REQUIRE(static_cast<bool>(nothing));
  BOOST_TEST(nothing->status == 404);
  // Only small GETs: a body is refused.
  auto posted = http.Post("/metrics", std::string(4096, 'x'), "text/plain");
  BOOST_TEST_REQUIRE(static_cast<bool>(posted));
  BOOST_TEST(posted->status >= 400);
}

namespace {

/// The node's /metrics samples, by name (and label).
std::map<std::string, std::string> scrape(std::uint16_t http_port) {
  httplib::Client http("127.0.0.1", http_port);
  auto metrics = http.Get("/metrics");
  if (!metrics || metrics->status != 200) return {};
  return parse_metrics(metrics->body);
}

/// A fault hook that, once armed, holds the first message handled at `where` until release().
struct one_hold {
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    bool armed = false;
    bool released = false;
  };
  std::string where;
  std::shared_ptr<state> s = std::make_shared<state>();
  void arm() {
    std::lock_guard<std::mutex> lock(s->mu);
    s->armed = true;
  }
  void release() {
    std::lock_guard<std::mutex> lock(s->mu);
    s->released = true;
    s->cv.notify_all();
  }
  std::function<void(const std::string&)> hook() const {
    return [where = where, s = s](const std::string& at) {
      if (at != where) return;
      std::unique_lock<std::mutex> lock(s->mu);
      if (!s->armed) return;
      s->armed = false;
      s->cv.wait(lock, [&] { return s->released; });
    };
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(metrics_show_the_messages_waiting_in_actor_mailboxes) {
  one_hold hold{runtime::conversation_entity(runtime::dm_conversation("alice", "bob"))};
  server::node_options opts;
  opts.http_enabled = true;
  opts.inject_fault = hold.hook();
  embedded_node node(opts);
  const std::uint16_t http_port = node.node().http_port();
  // Four of alice's devices, each one send to bob; the conversation holds the first it handles,
  // so the other three wait in its mailbox.
  std::vector<std::unique_ptr<client::connection>> devices;
  for (int d = 0; d < 4; ++d) devices.push_back(node.login("alice", "d" + std::to_string(d)));
  require_ok(node.login("bob")->heartbeat());
  hold.arm();
  std::vector<std::thread> senders;
  std::vector<client::response> acks(devices.size());
  for (std::size_t d = 0; d < devices.size(); ++d) {
    senders.emplace_back(
        [&, d] { acks[d] = devices[d]->send_to_user("bob", "m" + std::to_string(d), "held"); });
  }
  std::map<std::string, std::string> sample;
  const bool seen = testing::wait_until([&] {
    sample = scrape(http_port);
    return sample["parley_mailbox_messages{kind=\"conversation\"}"] == "3";
  });
  hold.release();
  for (auto& t : senders) t.join();
  BOOST_TEST_REQUIRE(seen, "never saw the three waiting sends");
  BOOST_TEST(sample["parley_mailbox_deepest{kind=\"conversation\"}"] == "3");
  BOOST_TEST(sample["parley_mailbox_messages{kind=\"group\"}"] == "0");
  for (const auto& ack : acks) require_ok(ack);
  // Handled, so nothing waits any more.
  BOOST_TEST(testing::wait_until([&] {
    sample = scrape(http_port);
    return sample["parley_mailbox_messages{kind=\"conversation\"}"] == "0";
  }));
  BOOST_TEST(sample["parley_mailbox_deepest{kind=\"conversation\"}"] == "0");
}

BOOST_AUTO_TEST_CASE(a_backup_made_while_the_node_runs_restores_into_a_working_node) {
  testing::temp_dir backups{"parley-backups"};
  server::node_options opts;
  opts.http_enabled = true;
  opts.backup_dir = backups.path();
  embedded_node node(opts);
  auto alice = node.login("alice");
  require_ok(alice->send_to_user("bob", "m1", "before the backup"));
  require_ok(alice->send_to_user("bob", "m2", "also before"));
  const std::string http = " --http 127.0.0.1:" + std::to_string(node.node().http_port());
  auto [rc, out] = imctl("node backup" + http + " --data-dir " + node.data_dir());
  BOOST_TEST_REQUIRE(rc == 0, out);
  const std::string backup = out.substr(0, out.size() - 1);
  BOOST_TEST(backup.rfind(backups.path() + "/local-", 0) == 0u, backup);
  require_ok(alice->send_to_user("bob", "m3", "after the backup"));
  std::tie(rc, out) = imctl("node backup --http 127.0.0.1:1 --data-dir " + node.data_dir());
  BOOST_TEST(rc == 1);  // nobody there
  BOOST_TEST(out.find("no answer from http://127.0.0.1:1") != std::string::npos, out);

  // Restore: another node on a copy of the backup has the messages up to it, and the secret.
  embedded_node restored;
  restored.stop();
  std::filesystem::remove_all(restored.data_dir());
  std::filesystem::copy(backup, restored.data_dir(), std::filesystem::copy_options::recursive);
  restored.start();
  auto bob = restored.login("bob");
  auto page = bob->pull("dm/alice/bob", 0);
  require_ok(page);
  BOOST_TEST((bodies(page) == std::vector<std::string>{"before the backup", "also before"}));
  // The same secret: a token of the original node logs in.
  require_ok(restored.connect()->login(node.token("alice"), "phone"));
}

BOOST_AUTO_TEST_CASE(the_data_dir_is_private) {
  embedded_node node;
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(node.data_dir().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);
  BOOST_TEST_REQUIRE(::stat((node.data_dir() + "/db").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);
}

BOOST_AUTO_TEST_CASE(token_issue_refuses_bad_ttls_and_missing_secrets) {
  testing::temp_dir dir;
  // No secret: a clear error, and none is created (a tool's secret would match no node).
  auto [rc, out] = imctl("token issue alice --data-dir " + dir.path());
  BOOST_TEST(rc != 0);
  BOOST_TEST(out.find("does not exist") != std::string::npos, out);
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/secret"));
  // A dangling link: an error, not a crash.
  std::filesystem::create_symlink(dir.path() + "/gone", dir.path() + "/secret");
  std::tie(rc, out) = imctl("token issue alice --data-dir " + dir.path());
  BOOST_TEST(rc != 0);
  BOOST_TEST(rc != 139);
  std::filesystem::remove(dir.path() + "/secret");
  // With a node's secret: TTLs are bounded and parsed strictly.
  embedded_node node;
  for (const char* ttl : {"100000d", "200000d", "99999999999999999999s", "-5h", "0", " 5h", "5x"}) {
    std::tie(rc, out) =
        imctl("token issue alice --data-dir " + node.data_dir() + " --ttl '" + ttl + "'");
    BOOST_TEST(rc != 0, "ttl " << ttl << " accepted: " << out);
  }
  std::tie(rc, out) = imctl("token issue alice --data-dir " + node.data_dir() + " --ttl 400d");
  BOOST_TEST_REQUIRE(rc == 0, out);
  auto c = node.connect();
  out.erase(out.find_last_not_of('\n') + 1);
  require_ok(c->login(out, "d"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(transport_security)

namespace {

/// A CA and a client-port certificate for 127.0.0.1 signed by it, in a temp dir.
struct tls_files {
  testing::temp_dir dir{"parley-tls"};
  runtime::tls_identity server;

  explicit tls_files(const std::string& names = "IP:127.0.0.1,DNS:localhost") {
    BOOST_TEST_REQUIRE(runtime::ensure_cluster_ca(dir.path()).ok());
    auto id = runtime::issue_node_identity(dir.path(), "node", names);
    BOOST_TEST_REQUIRE(id.ok());
    server = id.value();
  }

  server::node_options node_options() const {
    server::node_options o;
    o.gateway.tls_cert_file = server.cert_file;
    o.gateway.tls_key_file = server.key_file;
    return o;
  }

  client::connect_options client_options() const {
    client::connect_options o;
    o.tls = true;
    o.tls_ca_file = server.ca_file;
    return o;
  }
};

/// Why starting a node with `opts` failed ("" if it started).
std::string start_error(const server::node_options& opts) {
  try {
    embedded_node node(opts);
    return "";
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(clients_chat_over_tls) {
  tls_files files;
  embedded_node node(files.node_options());
  node.set_client_options(files.client_options());
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  // A body of several TLS records, then many frames back to back, both ways.
  const std::string large(60 * 1024, 'x');
  require_ok(alice->send_to_user("bob", "large", large));
  auto pushed = testing::next_message(*bob);
  BOOST_TEST_REQUIRE(pushed.has_value());
  BOOST_TEST(pushed->body == large);
  for (int i = 0; i < 100; ++i) {
    require_ok(alice->send_to_user("bob", "m" + std::to_string(i), "hello " + std::to_string(i)));
  }
  auto all = client::pull_all(*bob, pushed->conversation);
  BOOST_TEST_REQUIRE(std::holds_alternative<std::vector<client::message>>(all));
  const auto& messages = std::get<std::vector<client::message>>(all);
  BOOST_TEST_REQUIRE(messages.size() == 101u);
  BOOST_TEST(messages.back().body == "hello 99");
}

BOOST_AUTO_TEST_CASE(a_plain_client_gets_nowhere_on_a_tls_port) {
  tls_files files;
  embedded_node node(files.node_options());
  auto plain = node.connect();  // the default options: no TLS
  const auto login = plain->login(node.token("alice"), "device-1");
  BOOST_TEST((login.code == ErrorCode::UNAVAILABLE));  // the node closed the connection
  BOOST_TEST(plain->closed());
  node.set_client_options(files.client_options());
  require_ok(node.login("alice")->heartbeat());  // the node serves TLS clients all the same
}

BOOST_AUTO_TEST_CASE(a_client_refuses_a_certificate_it_cannot_verify) {
  tls_files files;
  embedded_node node(files.node_options());
  auto o = files.client_options();
  tls_files stranger;  // another CA
  o.tls_ca_file = stranger.server.ca_file;
  auto c = client::connection::connect("127.0.0.1", node.port(), o);
  BOOST_TEST_REQUIRE(!c.ok());
  BOOST_TEST(c.error().message().find("certificate") != std::string::npos);
  // The right CA but not the name the client asked for.
  o = files.client_options();
  o.tls_server_name = "chat.example.com";
  c = client::connection::connect("127.0.0.1", node.port(), o);
  BOOST_TEST_REQUIRE(!c.ok());
  BOOST_TEST(c.error().message().find("certificate") != std::string::npos);
  o.tls_server_name = "localhost";
  BOOST_TEST(client::connection::connect("127.0.0.1", node.port(), o).ok());
}

BOOST_AUTO_TEST_CASE(an_unfinished_handshake_is_cut_at_the_login_deadline) {
  tls_files files;
  auto opts = files.node_options();
  opts.actors.login_timeout = 200ms;
  embedded_node node(opts);
  auto silent = node.connect();  // plain TCP: never sends a ClientHello
  BOOST_TEST(testing::wait_until([&] { return silent->closed(); }, 3s));
  // The gateway counts the socket as gone just after closing it (the client may see the end
  // of the stream first).
  BOOST_TEST(testing::wait_until([&] { return node.node().gateway_figures().open == 0u; }, 3s));
}

BOOST_AUTO_TEST_CASE(a_node_refuses_to_start_with_an_unusable_certificate) {
  tls_files files;
  auto opts = files.node_options();
  opts.gateway.tls_key_file.clear();
  BOOST_TEST(start_error(opts).find("both a certificate and a key") != std::string::npos);
  opts = files.node_options();
  opts.gateway.tls_key_file = files.dir.path() + "/ca-key.pem";  // not this certificate's key
  BOOST_TEST(start_error(opts).find("does not match") != std::string::npos);
  opts.gateway.tls_cert_file = files.dir.path() + "/missing.pem";
  BOOST_TEST(start_error(opts).find("cannot load the TLS certificate") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(exception_boundary)

namespace {

/// A fault hook that throws once at `where` after arm().
struct one_throw {
  std::string where;
  std::shared_ptr<std::atomic<bool>> armed = std::make_shared<std::atomic<bool>>(false);
  void arm() { armed->store(true); }
  std::function<void(const std::string&)> hook() const {
    return [where = where, armed = armed](const std::string& at) {
      if (at == where && armed->exchange(false)) throw std::runtime_error("injected fault");
    };
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(an_entity_that_throws_answers_internal_and_restarts_from_the_store) {
  one_throw fault{runtime::conversation_entity(runtime::dm_conversation("alice", "bob"))};
  server::node_options opts;
  opts.inject_fault = fault.hook();
  embedded_node node(opts);
  auto alice = node.login("alice");
  require_ok(alice->send_to_user("bob", "m1", "before"));
  fault.arm();
  const auto failed = alice->send_to_user("bob", "m2", "thrown away");
  BOOST_TEST((failed.code == ErrorCode::INTERNAL), client::to_string(failed.code));
  // The entity left the router: the next request reactivates it from the store, whose head
  // is still 1 (the throw came before the send was handled).
  client::response after;
  BOOST_TEST(testing::wait_until([&] {
    after = alice->send_to_user("bob", "m3", "after");
    return after.code != ErrorCode::UNAVAILABLE;
  }));
  require_ok(after);
  BOOST_TEST(after.seq == 2u);
  auto page = node.login("bob")->pull(runtime::dm_conversation("alice", "bob"), 0, 10);
  require_ok(page);
  BOOST_TEST(bodies(page) == (std::vector<std::string>{"before", "after"}));
}

BOOST_AUTO_TEST_CASE(a_reply_continuation_that_throws_closes_only_its_connection) {
  one_throw fault{"reply/mallory"};
  server::node_options opts;
  opts.gateway.hubs = 1;  // every connection on the same hub
  opts.inject_fault = fault.hook();
  embedded_node node(opts);
  auto alice = node.login("alice");
  auto mallory = node.login("mallory");
  fault.arm();
  const auto lost = mallory->send_to_user("alice", "x", "its answer throws");
  BOOST_TEST((lost.code == ErrorCode::UNAVAILABLE));  // the connection was closed
  auto told = mallory->next_unsolicited(5s);
  BOOST_TEST_REQUIRE(told.has_value());
  BOOST_TEST((told->code == ErrorCode::INTERNAL));
  BOOST_TEST(testing::wait_until([&] { return mallory->closed(); }));
  // The hub goes on: its other connection and a new one are served.
  require_ok(alice->send_to_user("bob", "a", "still here"));
  require_ok(node.login("carol")->heartbeat());
}

BOOST_AUTO_TEST_SUITE_END()
