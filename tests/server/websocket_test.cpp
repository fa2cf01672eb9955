// The WebSocket port (issue 16): browsers speak the client protocol with one Cap'n Proto frame
// per binary message, under the client port's limits and deadlines. The client here is written
// for the test on a blocking socket (RFC 6455 by hand), so that it can also break the rules.
#define BOOST_TEST_MODULE websocket
#include <boost/test/unit_test.hpp>

#include "../support.hpp"
#include "parley/client/codec.hpp"
#include "parley/runtime/cluster_tls.hpp"
#include "parley/schema/tls.hpp"
#include "parley/testing/embedded_node.hpp"

#include "client.capnp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace parley;
using parley::client::ErrorCode;
using parley::test_support::require_ok;
using parley::testing::embedded_node;
using namespace std::chrono_literals;

namespace {

constexpr std::uint8_t op_text = 1, op_binary = 2, op_close = 8, op_ping = 9, op_pong = 10;

/// One WebSocket message as the test client received it.
struct ws_message {
  std::uint8_t opcode = 0;
  std::string payload;
};

/// A blocking WebSocket client of a test: one socket, one message at a time.
class ws_client {
 public:
  /// `tls`: speak TLS under the WebSocket (wss), trusting the context's CA.
  explicit ws_client(std::uint16_t port, const schema::tls_context* tls = nullptr)
      : tls_(tls ? std::make_unique<schema::tls_engine>(*tls, "127.0.0.1") : nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_TEST_REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    if (tls_) {
      while (tls_->handshake() == schema::tls_engine::status::need_input) {
        flush_tls();
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        BOOST_TEST_REQUIRE(n > 0);
        tls_->feed(buf, static_cast<std::size_t>(n));
      }
      BOOST_TEST_REQUIRE(tls_->handshake_done());
      flush_tls();
    }
  }
  ~ws_client() { ::close(fd_); }
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// Sends the upgrade request (with `origin` unless empty) and returns the answer's status
  /// line and headers.
  std::string handshake(const std::string& origin = "") {
    std::string request =
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!origin.empty()) request += "Origin: " + origin + "\r\n";
    return http_request(request + "\r\n");
  }

  /// Sends `request` and returns the answer's status line and headers.
  std::string http_request(const std::string& request) {
    write_all(request.data(), request.size());
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      char c;
      if (!read_exact(&c, 1)) break;
      head += c;
    }
    return head;
  }

  /// Sends one message of `opcode`, masked as a client must, in one frame.
  void send(std::uint8_t opcode, const std::string& payload) {
    std::string frame;
    frame += static_cast<char>(0x80 | opcode);
    const std::size_t n = payload.size();
    if (n < 126) {
      frame += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
      frame += static_cast<char>(0x80 | 126);
      frame += static_cast<char>(n >> 8);
      frame += static_cast<char>(n & 0xff);
    } else {
      frame += static_cast<char>(0x80 | 127);
      for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>((n >> shift) & 0xff);
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(mask, 4);
    for (std::size_t i = 0; i < n; ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    write_all(frame.data(), frame.size());
  }

  void send_frame(const schema::frame_words& words) {
    send(op_binary, std::string(reinterpret_cast<const char*>(words.data()),
                                words.size() * sizeof(std::uint64_t)));
  }

  /// The next message (control messages included); nullopt once the connection is closed or
  /// nothing arrives within `within`.
  std::optional<ws_message> next(std::chrono::milliseconds within = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (tls_) decrypt_buffered();
    if (plain_.empty() && ::poll(&p, 1, static_cast<int>(within.count())) <= 0) {
      return std::nullopt;
    }
    std::uint8_t head[2];
    if (!read_exact(head, 2)) return std::nullopt;
    ws_message m;
    m.opcode = head[0] & 0x0f;
    std::uint64_t n = head[1] & 0x7f;
    if (n == 126 || n == 127) {
      std::uint8_t ext[8];
      const int bytes = n == 126 ? 2 : 8;
      if (!read_exact(ext, bytes)) return std::nullopt;
      n = 0;
      for (int i = 0; i < bytes; ++i) n = (n << 8) | ext[i];
    }
    m.payload.resize(n);
    if (n > 0 && !read_exact(m.payload.data(), n)) return std::nullopt;
    return m;
  }

  /// The next Cap'n Proto frame the server sent, decoded (other messages skipped).
  std::optional<client::codec::server_frame> next_frame(std::chrono::milliseconds within = 10s) {
    for (;;) {
      auto m = next(within);
      if (!m || m->opcode == op_close) return std::nullopt;
      if (m->opcode != op_binary) continue;
      schema::frame_words words(m->payload.size() / sizeof(std::uint64_t));
      std::memcpy(words.data(), m->payload.data(), words.size() * sizeof(std::uint64_t));
      return client::codec::decode(words);
    }
  }

  /// Sends a request and returns its Result.
  client::response request(const client::codec::filler& fill) {
    const std::uint64_t id = ++next_id_;
    send_frame(client::codec::encode(id, fill));
    for (;;) {
      auto f = next_frame();
      BOOST_TEST_REQUIRE(f.has_value());
      if (f->is_result && f->request_id == id) return f->result;
    }
  }

  client::response login(const std::string& token) {
    return request([&](wire::ClientFrame::Builder f) {
      client::codec::fill_login(f, token, "browser", wire::DeviceType::WEB);
    });
  }

  /// Whether the server closed the TCP connection (within `within`).
  bool closed_by_server(std::chrono::milliseconds within = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  void write_all(const char* data, std::size_t n) {
    if (tls_) {
      while (n > 0) {
        const auto taken = tls_->write(data, n);
        if (taken == 0) return;
        data += taken;
        n -= taken;
        flush_tls();
      }
      return;
    }
    send_plain(data, n);
  }

  /// Moves what the TLS engine can decrypt without reading the socket into plain_.
  void decrypt_buffered() {
    char buf[16 * 1024];
    for (;;) {
      const auto r = tls_->read(buf, sizeof buf);
      if (r.st != schema::tls_engine::status::ok) return;
      plain_.append(buf, r.n);
    }
  }

  void flush_tls() {
    send_plain(reinterpret_cast<const char*>(tls_->output_data()), tls_->output_size());
    tls_->consume_output(tls_->output_size());
  }

  void send_plain(const char* data, std::size_t n) {
    while (n > 0) {
      const auto w = ::send(fd_, data, n, MSG_NOSIGNAL);
      if (w <= 0) return;  // the server closed; the reads say so
      data += w;
      n -= static_cast<std::size_t>(w);
    }
  }

  bool read_exact(void* out, std::size_t n) {
    auto* at = static_cast<char*>(out);
    if (tls_) {
      while (plain_.size() < n) {
        char buf[16 * 1024];
        const auto r = tls_->read(buf, sizeof buf);
        if (r.st == schema::tls_engine::status::ok) {
          plain_.append(buf, r.n);
          continue;
        }
        if (r.st != schema::tls_engine::status::need_input) return false;
        const auto got = ::recv(fd_, buf, sizeof buf, 0);
        if (got <= 0) return false;
        tls_->feed(buf, static_cast<std::size_t>(got));
      }
      std::memcpy(at, plain_.data(), n);
      plain_.erase(0, n);
      return true;
    }
    while (n > 0) {
      const auto r = ::recv(fd_, at, n, 0);
      if (r <= 0) return false;
      at += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }

  int fd_ = -1;
  std::uint64_t next_id_ = 0;
  std::unique_ptr<schema::tls_engine> tls_;  // null: plain ws
  std::string plain_;                        // decrypted, not yet read
};

server::node_options websocket_node(std::vector<std::string> origins = {"http://app.example"}) {
  server::node_options o;
  o.websocket_enabled = true;
  o.websocket.origins = std::move(origins);
  return o;
}

std::uint16_t close_code(const ws_message& m) {
  if (m.payload.size() < 2) return 0;
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(m.payload[0]) << 8) |
                                    static_cast<std::uint8_t>(m.payload[1]));
}

/// The server's next message that is not a Cap'n Proto frame (a Close, a Pong).
std::optional<ws_message> next_control(ws_client& c) {
  for (;;) {
    auto m = c.next();
    if (!m || m->opcode != op_binary) return m;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(websocket)

BOOST_AUTO_TEST_CASE(a_browser_and_a_tcp_client_chat) {
  embedded_node node(websocket_node());
  const auto port = node.node().websocket_port();
  BOOST_TEST_REQUIRE(port != 0);
  ws_client alice(port);
  BOOST_TEST(alice.handshake("http://app.example").rfind("HTTP/1.1 101", 0) == 0);
  auto login = alice.login(node.token("alice"));
  BOOST_TEST_REQUIRE(login.ok());
  BOOST_TEST(login.user_id == "alice");
  auto bob = node.login("bob");
  const auto metrics = node.node().metrics();
  BOOST_TEST(metrics.find("\nparley_websocket_sockets 1\n") != std::string::npos);
  BOOST_TEST(metrics.find("\nparley_client_sockets 1\n") != std::string::npos);

  auto sent = alice.request([](wire::ClientFrame::Builder f) {
    client::codec::fill_send_to_user(f, "bob", "m1", "hello from a browser", 0, {});
  });
  BOOST_TEST_REQUIRE(sent.ok());
  BOOST_TEST(sent.seq == 1u);
  auto pushed = testing::next_message(*bob);
  BOOST_TEST_REQUIRE(pushed.has_value());
  BOOST_TEST(pushed->body == "hello from a browser");

  // A body of several WebSocket frames' worth comes back as one message.
  const std::string large(60 * 1024, 'x');
  require_ok(bob->send_to_user("alice", "b1", large));
  std::optional<client::codec::server_frame> back;
  do {
    back = alice.next_frame();
    BOOST_TEST_REQUIRE(back.has_value());
  } while (back->is_result || back->pushed.what != client::push::kind::message);
  BOOST_TEST((back->pushed.msg.body == large));  // not printed if it fails: 60 KB
  BOOST_TEST(back->pushed.msg.seq == 2u);
}

BOOST_AUTO_TEST_CASE(a_browser_chats_over_tls_when_the_node_has_a_certificate) {
  testing::temp_dir dir{"parley-wss"};
  BOOST_TEST_REQUIRE(runtime::ensure_cluster_ca(dir.path()).ok());
  auto id = runtime::issue_node_identity(dir.path(), "node", "IP:127.0.0.1");
  BOOST_TEST_REQUIRE(id.ok());
  auto opts = websocket_node();
  opts.gateway.tls_cert_file = id.value().cert_file;
  opts.gateway.tls_key_file = id.value().key_file;
  embedded_node node(opts);
  auto trust = schema::tls_context::client(id.value().ca_file);
  BOOST_TEST_REQUIRE(trust.ok());
  ws_client alice(node.node().websocket_port(), &trust.value());
  BOOST_TEST(alice.handshake("http://app.example").rfind("HTTP/1.1 101", 0) == 0);
  BOOST_TEST_REQUIRE(alice.login(node.token("alice")).ok());
  ws_client bob(node.node().websocket_port(), &trust.value());
  BOOST_TEST(bob.handshake().rfind("HTTP/1.1 101", 0) == 0);
  BOOST_TEST_REQUIRE(bob.login(node.token("bob")).ok());
  const std::string body(40 * 1024, 'y');  // several TLS records
  auto sent = alice.request([&](wire::ClientFrame::Builder f) {
    client::codec::fill_send_to_user(f, "bob", "m1", body, 0, {});
  });
  BOOST_TEST_REQUIRE(sent.ok());
  std::optional<client::codec::server_frame> got;
  do {
    got = bob.next_frame();
    BOOST_TEST_REQUIRE(got.has_value());
  } while (got->is_result || got->pushed.what != client::push::kind::message);
  BOOST_TEST((got->pushed.msg.body == body));
  ws_client plain(node.node().websocket_port());  // not TLS: no upgrade, closed
  BOOST_TEST(plain.handshake().rfind("HTTP/1.1 101", 0) != 0);
}

BOOST_AUTO_TEST_CASE(only_listed_origins_may_connect) {
  embedded_node node(websocket_node());
  const auto port = node.node().websocket_port();
  ws_client listed(port);
  BOOST_TEST(listed.handshake("http://app.example").rfind("HTTP/1.1 101", 0) == 0);
  ws_client other(port);
  const auto refused = other.handshake("http://evil.example");
  BOOST_TEST(refused.rfind("HTTP/1.1 403", 0) == 0, refused);
  BOOST_TEST(other.closed_by_server());
  ws_client no_browser(port);  // no Origin: not a browser; the token is what counts
  BOOST_TEST(no_browser.handshake().rfind("HTTP/1.1 101", 0) == 0);
  BOOST_TEST(no_browser.login(node.token("carol")).ok());
  ws_client not_websocket(port);  // a plain HTTP request gets an HTTP error, not a hang
  const auto head = not_websocket.http_request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  BOOST_TEST(head.rfind("HTTP/1.1 4", 0) == 0, head);
  BOOST_TEST(not_websocket.closed_by_server());
}

BOOST_AUTO_TEST_CASE(a_message_that_is_not_one_frame_is_a_malformed_frame) {
  embedded_node node(websocket_node());
  const auto port = node.node().websocket_port();
  auto expect_malformed = [&](const std::function<void(ws_client&)>& send_bad) {
    ws_client c(port);
    BOOST_TEST_REQUIRE(c.handshake().rfind("HTTP/1.1 101", 0) == 0);
    BOOST_TEST_REQUIRE(c.login(node.token("dave")).ok());
    send_bad(c);
    auto answer = c.next_frame();
    BOOST_TEST_REQUIRE(answer.has_value());
    BOOST_TEST(answer->is_result);
    BOOST_TEST((answer->result.code == ErrorCode::MALFORMED_FRAME));
    auto close = next_control(c);
    BOOST_TEST_REQUIRE(close.has_value());
    BOOST_TEST(close->opcode == op_close);
    BOOST_TEST(c.closed_by_server());
  };
  expect_malformed([](ws_client& c) { c.send(op_text, "{\"send\": \"hi\"}"); });
  auto pull = client::codec::encode(
      7, [](wire::ClientFrame::Builder f) { client::codec::fill_pull(f, "d:dave:erin", 0, 10); });
  expect_malformed([&](ws_client& c) {  // two frames in one message
    std::string two(reinterpret_cast<const char*>(pull.data()), pull.size() * 8);
    c.send(op_binary, two + two);
  });
  expect_malformed([&](ws_client& c) {  // half a frame
    c.send(op_binary, std::string(reinterpret_cast<const char*>(pull.data()), pull.size() * 4));
  });
}

BOOST_AUTO_TEST_CASE(a_message_above_the_frame_limit_is_refused_before_login) {
  auto opts = websocket_node();
  opts.actors.max_unauthenticated_frame_bytes = 1024;
  embedded_node node(opts);
  ws_client c(node.node().websocket_port());
  BOOST_TEST_REQUIRE(c.handshake().rfind("HTTP/1.1 101", 0) == 0);
  c.send(op_binary, std::string(4096, '\0'));
  auto close = next_control(c);
  BOOST_TEST_REQUIRE(close.has_value());
  BOOST_TEST(close->opcode == op_close);
  BOOST_TEST(close_code(*close) == 1009);  // message too big
  BOOST_TEST(c.closed_by_server());
  BOOST_TEST(testing::wait_until([&] { return node.node().stats().bad_frames == 1u; }));
}

BOOST_AUTO_TEST_CASE(pings_are_answered_and_the_login_deadline_holds) {
  auto opts = websocket_node();
  opts.actors.login_timeout = 300ms;
  embedded_node node(opts);
  ws_client c(node.node().websocket_port());
  BOOST_TEST_REQUIRE(c.handshake().rfind("HTTP/1.1 101", 0) == 0);
  c.send(op_ping, "are you there");
  auto pong = c.next();
  BOOST_TEST_REQUIRE(pong.has_value());
  BOOST_TEST(pong->opcode == op_pong);
  BOOST_TEST(pong->payload == "are you there");
  // No login: the gateway's deadline kicks the WebSocket client as it would a TCP one.
  auto kicked = c.next_frame();
  BOOST_TEST_REQUIRE(kicked.has_value());
  BOOST_TEST((kicked->pushed.what == client::push::kind::kicked));
  BOOST_TEST((kicked->pushed.reason == wire::KickReason::LOGIN_TIMEOUT));
  auto close = next_control(c);
  BOOST_TEST_REQUIRE(close.has_value());
  BOOST_TEST(close->opcode == op_close);
  BOOST_TEST(c.closed_by_server());
}

BOOST_AUTO_TEST_SUITE_END()
