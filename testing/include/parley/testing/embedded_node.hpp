#pragma once
// Embedded test harness: a real node in this process, on a loopback port the OS picks, with its
// data in a fresh temporary directory, plus logged-in clients talking to it over real TCP.
// For Parley's own tests and for app developers' tests of their integration.
//
//   parley::testing::embedded_node node;
//   auto alice = node.login("alice");            // connected + logged in, or throws
//   alice->send_to_user("bob", "m1", "hi");
//   node.restart();                               // same data dir, new port
//
// Not thread-safe itself (start/stop from one thread); the clients it returns are.

#include "parley/client/client.hpp"
#include "parley/server/node.hpp"
#include "parley/testing/support.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace parley::testing {

/// One in-process node. See the file comment.
class embedded_node {
 public:
  /// Starts a node with `opts`, overriding its data dir (a temp dir), host (127.0.0.1) and
  /// port (ephemeral). Throws std::runtime_error if it cannot start.
  explicit embedded_node(server::node_options opts = {});
  ~embedded_node();

  server::node& node();
  std::uint16_t port() const;
  /// The node's data dir (inside a temp dir removed with this object).
  const std::string& data_dir() const { return opts_.data_dir; }

  /// Stops the node (graceful). The data dir stays.
  void stop();
  /// Starts it again on the same data dir (the port may change).
  void start();
  /// stop() then start().
  void restart();

  /// A token for `user` from this node's secret.
  std::string token(const std::string& user, std::int64_t ttl_seconds = 3600) const;
  /// How connect() and login() connect (TLS for a node started with a certificate).
  void set_client_options(client::connect_options o) { client_options_ = std::move(o); }
  /// A new connection, not logged in. Throws if it cannot connect.
  std::unique_ptr<client::connection> connect() const;
  /// A new connection logged in as `user` on `device`. Throws if login fails.
  std::unique_ptr<client::connection> login(const std::string& user,
                                            const std::string& device = "device-1") const;

 private:
  server::node_options opts_;
  client::connect_options client_options_;
  temp_dir dir_;
  std::unique_ptr<server::node> node_;
};

/// Reads pushes from `c` until a message push arrives or `timeout` passes.
std::optional<client::message> next_message(
    client::connection& c, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace parley::testing
