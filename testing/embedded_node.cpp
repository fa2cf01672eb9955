#include "parley/testing/embedded_node.hpp"

#include <filesystem>
#include <random>
#include <thread>

namespace parley::testing {

embedded_node::embedded_node(server::node_options opts) : opts_(std::move(opts)) {
  opts_.data_dir = dir_.path() + "/data";
  opts_.gateway.host = "127.0.0.1";
  opts_.gateway.port = 0;
  start();
}

embedded_node::~embedded_node() {
  stop();
}

server::node& embedded_node::node() {
  if (!node_) throw std::logic_error("embedded node is stopped");
  return *node_;
}

std::uint16_t embedded_node::port() const {
  return node_ ? node_->port() : 0;
}

void embedded_node::stop() {
  if (node_) node_->stop();
  node_.reset();
}

void embedded_node::start() {
  if (node_) return;
  auto started = server::node::start(opts_);
  if (!started) throw std::runtime_error("embedded node: " + started.error().message());
  node_ = std::move(*started);
}

void embedded_node::restart() {
  stop();
  start();
}

std::string embedded_node::token(const std::string& user, std::int64_t ttl_seconds) const {
  if (!node_) throw std::logic_error("embedded node is stopped");
  return node_->issue_token(user, ttl_seconds);
}

std::unique_ptr<client::connection> embedded_node::connect() const {
  auto c = client::connection::connect("127.0.0.1", port(), client_options_);
  if (!c) throw std::runtime_error(c.error().describe());
  return std::move(*c);
}

std::unique_ptr<client::connection> embedded_node::login(const std::string& user,
                                                         const std::string& device) const {
  auto c = connect();
  auto r = c->login(token(user), device);
  if (!r.ok()) {
    throw std::runtime_error("login of " + user + " failed: " + client::to_string(r.code) + " " +
                             r.error);
  }
  return c;
}

std::optional<client::message> next_message(client::connection& c,
                                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    auto p = c.next_push(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (!p) return std::nullopt;
    if (p->what == client::push::kind::message) return p->msg;
    if (p->what == client::push::kind::closed) return std::nullopt;
  }
}

}  // namespace parley::testing
