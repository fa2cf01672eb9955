#pragma once
// Asynchronous chat connections for the load generator: one interface, two protocols
// (Parley over its client codec, XMPP in the minimal form ejabberd needs). All on one Asio
// io_context thread per process; nothing here is thread-safe.

#include <asio.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace parley::bench {

using clock = std::chrono::steady_clock;

/// Where and who to connect as.
struct endpoint_spec {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7420;
  std::string bind_address;  ///< Source address (spread load over 127.0.0.x); "" = any.
};

/// Opens `socket` for a connection to `ep`, bound to ep.bind_address if set. The port is left
/// to connect() (IP_BIND_ADDRESS_NO_PORT): bind() would have to pick it alone and skips ports
/// still in TIME_WAIT from a previous run, so back-to-back runs ran out of ports and logins
/// crawled through connect retries.
inline std::error_code open_socket(asio::ip::tcp::socket& socket, const endpoint_spec& ep) {
  std::error_code ec;
  socket.open(asio::ip::tcp::v4(), ec);
  if (ec || ep.bind_address.empty()) return ec;
  const int on = 1;
  ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
  const auto source = asio::ip::make_address(ep.bind_address, ec);
  if (!ec) socket.bind(asio::ip::tcp::endpoint(source, 0), ec);
  return ec;
}

/// One logged-in chat connection.
class chat_conn {
 public:
  using done_fn = std::function<void(bool ok, const std::string& error)>;
  using message_fn = std::function<void(const std::string& body)>;
  using ack_fn = std::function<void(bool ok)>;

  virtual ~chat_conn() = default;
  /// Connects and logs in as `user` (password or token in `secret`).
  virtual void open(const endpoint_spec& ep, const std::string& user, const std::string& secret,
                    done_fn done) = 0;
  /// Sends a direct message; `acked` runs when the server confirms (Parley) or at once after
  /// writing (XMPP has no per-message ack without stream management).
  virtual void send_direct(const std::string& peer, const std::string& body, ack_fn acked) = 0;
  /// Sends to a group (Parley group / XMPP MUC room).
  virtual void send_group(const std::string& group, const std::string& body, ack_fn acked) = 0;
  /// Creates (if `create`) or joins a group.
  virtual void join_group(const std::string& group, bool create, done_fn done) = 0;
  /// Called for every incoming chat message body.
  void on_message(message_fn f) { on_message_ = std::move(f); }
  virtual void close() = 0;

 protected:
  message_fn on_message_;
};

/// Parley over TCP (client codec).
std::shared_ptr<chat_conn> make_parley_conn(asio::io_context& io);
/// XMPP c2s, SASL PLAIN, no TLS.
std::shared_ptr<chat_conn> make_xmpp_conn(asio::io_context& io, const std::string& domain);
/// Registers `user` with `password` in-band (XEP-0077) on an XMPP server.
void xmpp_register(asio::io_context& io, const endpoint_spec& ep, const std::string& domain,
                   const std::string& user, const std::string& password, chat_conn::done_fn done);

}  // namespace parley::bench
