// runtime/cluster_link: the cluster port's TLS tunnels, tested without CAF: whatever is written
// to one plaintext end comes out of the other, and every stranger is refused and reported.
#include <boost/test/unit_test.hpp>

#include "parley/runtime/cluster_link.hpp"
#include "parley/runtime/cluster_tls.hpp"
#include "parley/testing/support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace parley;
using namespace parley::runtime;

namespace {

/// A cluster CA with two nodes, and a stranger with a CA of its own.
struct identities {
  testing::temp_dir dir{"parley-link"};
  tls_identity a, b, stranger;

  identities() {
    BOOST_TEST_REQUIRE(ensure_cluster_ca(dir.path() + "/ca").ok());
    BOOST_TEST_REQUIRE(ensure_cluster_ca(dir.path() + "/other").ok());
    a = issue("/ca", "node-a");
    b = issue("/ca", "node-b");
    stranger = issue("/other", "mallory");
  }

  tls_identity issue(const std::string& ca, const std::string& name) {
    auto id = issue_node_identity(dir.path() + ca, name);
    BOOST_TEST_REQUIRE((id).ok());
    return id.value();
  }
};

/// A started link that keeps what it is handed: peers' plaintext ends and refusals.
struct endpoint {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<int> peers;
  std::vector<std::string> refusals;
  std::unique_ptr<cluster_link> link;

  explicit endpoint(const tls_identity& id,
                    std::chrono::milliseconds handshake = std::chrono::seconds(5),
                    std::size_t max_handshakes = 64) {
    cluster_link_options o;
    o.tls = id;
    o.handshake_timeout = handshake;
    o.max_handshakes = max_handshakes;
    auto started = cluster_link::start(
        o,
        [this](int fd) {
          std::lock_guard<std::mutex> guard(mu);
          peers.push_back(fd);
          changed.notify_all();
        },
        [this](const std::string&, const std::string& why) {
          std::lock_guard<std::mutex> guard(mu);
          refusals.push_back(why);
          changed.notify_all();
        });
    BOOST_TEST_REQUIRE((started).ok());
    link = std::move(started.value());
  }

  ~endpoint() {
    link.reset();
    for (int fd : peers) ::close(fd);
  }

  /// The n-th inbound peer's end (waits up to 10 s; -1 if it does not come).
  int peer(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    changed.wait_for(lock, std::chrono::seconds(10), [&] { return peers.size() > n; });
    return peers.size() > n ? peers[n] : -1;
  }

  /// Waits up to 10 s for the n-th refusal and returns its reason ("" if none came).
  std::string refusal(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    changed.wait_for(lock, std::chrono::seconds(10), [&] { return refusals.size() > n; });
    return refusals.size() > n ? refusals[n] : "";
  }
};

int dialed(endpoint& from, const endpoint& to) {
  auto fd = from.link->dial("127.0.0.1", to.link->port());
  if (auto* why = (fd ? nullptr : &fd.error().message())) BOOST_FAIL(*why);
  return fd.value();
}

/// A plain TCP connection to a link's port.
int raw_connection(const endpoint& to) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(to.link->port());
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_TEST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0);
  return fd;
}

void write_all(int fd, const std::string& bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;
    at += static_cast<std::size_t>(n);
  }
}

/// Reads `n` bytes, or what came before the end of the stream or 10 s without a byte.
std::string read_up_to(int fd, std::size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) break;
    const ssize_t got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (got <= 0) break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

/// Whether the other side closed `fd` (reads the end of the stream within 10 s).
bool closed_by_peer(int fd) {
  char c;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 10000) == 1 && ::recv(fd, &c, 1, 0) == 0;
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) % 251);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_link)

BOOST_AUTO_TEST_CASE(nodes_of_one_ca_carry_bytes_both_ways_in_order_and_closes_pass_through) {
  identities ids;
  endpoint a(ids.a), b(ids.b);
  const int at_a = dialed(a, b);
  const int at_b = b.peer(0);
  BOOST_TEST_REQUIRE(at_b >= 0);
  // 8 MiB one way while 1 MiB goes the other way: no side waits for the other to read first.
  const auto big = pattern(8 << 20, 1), back = pattern(1 << 20, 2);
  std::thread writer([&] { write_all(at_a, big); });
  write_all(at_b, back);
  BOOST_TEST((read_up_to(at_b, big.size()) == big));
  writer.join();
  BOOST_TEST((read_up_to(at_a, back.size()) == back));
  // A side that closes its end ends the tunnel: the other end reads the end of the stream.
  ::close(at_a);
  BOOST_TEST(closed_by_peer(at_b));
  BOOST_TEST(a.link->refused() == 0u);
  BOOST_TEST(b.link->refused() == 0u);
}

BOOST_AUTO_TEST_CASE(a_certificate_of_another_ca_is_refused_either_way) {
  identities ids;
  endpoint b(ids.b);
  // The stranger does not trust b's CA: its dial fails, and b hears why.
  endpoint stranger(ids.stranger);
  auto fd = stranger.link->dial("127.0.0.1", b.link->port());
  BOOST_TEST_REQUIRE(!fd.ok());
  BOOST_TEST(fd.error().message().find("certificate was refused") != std::string::npos,
             fd.error().message());
  BOOST_TEST(!b.refusal(0).empty());
  // It trusts b's CA but has no certificate of it: b refuses the client certificate. (With
  // TLS 1.3 the client's handshake ends before the server has checked its certificate, so the
  // dial may succeed; then its tunnel is closed at once.)
  endpoint impostor(tls_identity{ids.b.ca_file, ids.stranger.cert_file, ids.stranger.key_file});
  fd = impostor.link->dial("127.0.0.1", b.link->port());
  if (auto* opened = (fd ? &fd.value() : nullptr)) {
    BOOST_TEST(closed_by_peer(*opened));
    ::close(*opened);
  }
  BOOST_TEST(b.refusal(1).find("the client's certificate was refused") != std::string::npos,
             b.refusal(1));
  // And b, dialing the stranger, refuses its server certificate.
  fd = b.link->dial("127.0.0.1", stranger.link->port());
  BOOST_TEST(!fd.ok());
  BOOST_TEST(b.refusal(2).find("the server's certificate was refused") != std::string::npos,
             b.refusal(2));
  BOOST_TEST(b.link->refused() == 3u);
  std::lock_guard<std::mutex> guard(b.mu);
  BOOST_TEST(b.peers.empty());
}

BOOST_AUTO_TEST_CASE(plain_bytes_and_silence_are_refused) {
  identities ids;
  endpoint b(ids.b, std::chrono::milliseconds(300));
  const int talker = raw_connection(b);
  write_all(talker, "GET / HTTP/1.1\r\n\r\n");
  BOOST_TEST(closed_by_peer(talker));
  BOOST_TEST(b.refusal(0).find("the TLS handshake failed") != std::string::npos, b.refusal(0));
  const int silent = raw_connection(b);
  BOOST_TEST(closed_by_peer(silent));  // after the handshake timeout
  BOOST_TEST(b.refusal(1) == "no TLS handshake within the timeout");
  ::close(talker);
  ::close(silent);
  std::lock_guard<std::mutex> guard(b.mu);
  BOOST_TEST(b.peers.empty());
}

BOOST_AUTO_TEST_CASE(connections_beyond_the_handshake_bound_are_closed_at_once) {
  identities ids;
  endpoint b(ids.b, std::chrono::seconds(30), 2);
  const int first = raw_connection(b), second = raw_connection(b), third = raw_connection(b);
  BOOST_TEST(closed_by_peer(third));
  BOOST_TEST(b.refusal(0) == "too many TLS handshakes in progress");
  // The two within the bound are still open (nothing to read, no end of stream).
  pollfd p[2] = {{first, POLLIN, 0}, {second, POLLIN, 0}};
  BOOST_TEST(::poll(p, 2, 0) == 0);
  // A handshake ending frees its place: a node can get in again.
  ::close(first);
  endpoint a(ids.a);
  BOOST_TEST(testing::wait_until([&] {
    auto fd = a.link->dial("127.0.0.1", b.link->port());
    if (auto* ok = (fd ? &fd.value() : nullptr)) ::close(*ok);
    return fd.ok();
  }));
  ::close(second);
  ::close(third);
}

BOOST_AUTO_TEST_SUITE_END()
