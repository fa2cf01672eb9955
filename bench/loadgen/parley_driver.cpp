// Parley driver: an asynchronous client connection built on the client codec.

#include "drivers.hpp"

#include "parley/client/codec.hpp"

#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <deque>
#include <unordered_map>

namespace parley::bench {

namespace {

using asio::ip::tcp;

class parley_conn final : public chat_conn, public std::enable_shared_from_this<parley_conn> {
 public:
  explicit parley_conn(asio::io_context& io) : socket_(io), in_(limits(), 4096) {}

  void open(const endpoint_spec& ep, const std::string& user, const std::string& token,
            done_fn done) override {
    std::error_code ec;
    const auto address = asio::ip::make_address(ep.host, ec);
    if (ec) return done(false, "bad host");
    ec = open_socket(socket_, ep);
    if (ec) return done(false, "socket: " + ec.message());
    socket_.async_connect(tcp::endpoint(address, ep.port), [self = shared_from_this(), user, token,
                                                            done](std::error_code ec) {
      if (ec) return done(false, "connect: " + ec.message());
      std::error_code ignored;
      self->socket_.set_option(tcp::no_delay(true), ignored);
      self->read();
      self->request(
          [&](wire::ClientFrame::Builder f) {
            client::codec::fill_login(f, token, user + "-dev", wire::DeviceType::BOT);
          },
          [done](const client::response& r) { done(r.ok(), r.error); });
    });
  }

  void send_direct(const std::string& peer, const std::string& body, ack_fn acked) override {
    request(
        [&](wire::ClientFrame::Builder f) {
          client::codec::fill_send_to_user(f, peer, unique_id(), body, 0, {});
        },
        [acked](const client::response& r) { acked(r.ok()); });
  }

  void send_group(const std::string& group, const std::string& body, ack_fn acked) override {
    request(
        [&](wire::ClientFrame::Builder f) {
          client::codec::fill_send_to_group(f, group, unique_id(), body, 0, {});
        },
        [acked](const client::response& r) { acked(r.ok()); });
  }

  void join_group(const std::string& group, bool create, done_fn done) override {
    request(
        [&](wire::ClientFrame::Builder f) {
          if (create) {
            client::group_options open;  // members join by themselves
            open.join_policy = wire::JoinPolicy::OPEN;
            client::codec::fill_create_group(f, group, group, open);
          } else {
            client::codec::fill_join_group(f, group);
          }
        },
        [done](const client::response& r) { done(r.ok(), r.error); });
  }

  /// Client message ids must differ across runs too, or the server deduplicates them.
  std::string unique_id() {
    static const std::string run = std::to_string(::getpid()) + "-" +
                                   std::to_string(clock::now().time_since_epoch().count()) + "-";
    return run + std::to_string(next_id_);
  }

  void close() override {
    std::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void request(const client::codec::filler& fill, std::function<void(const client::response&)> cb) {
    const std::uint64_t id = next_id_++;
    pending_.emplace(id, std::move(cb));
    out_.push_back(client::codec::encode(id, fill));
    if (out_.size() == 1) write();
  }

  void write() {
    auto& f = out_.front();
    asio::async_write(socket_, asio::buffer(f.data(), f.size() * 8),
                      [self = shared_from_this()](std::error_code ec, std::size_t) {
                        if (ec) return self->fail();
                        self->out_.pop_front();
                        if (!self->out_.empty()) self->write();
                      });
  }

  static schema::frame_limits limits() {
    schema::frame_limits l;
    l.max_frame_bytes = 64u << 20;
    return l;
  }

  void read() {
    auto [at, room] = in_.write_area();
    socket_.async_read_some(asio::buffer(at, room),
                            [self = shared_from_this()](std::error_code ec, std::size_t n) {
                              if (ec) return self->fail();
                              self->in_.commit(n);
                              self->consume();
                              self->read();
                            });
  }

  void consume() {
    while (auto words = in_.next()) {
      auto frame = client::codec::decode(*words);
      if (!frame) continue;
      if (frame->is_result) {
        auto it = pending_.find(frame->request_id);
        if (it == pending_.end()) continue;
        auto cb = std::move(it->second);
        pending_.erase(it);
        cb(frame->result);
      } else if (frame->pushed.what == client::push::kind::kicked) {
        std::fprintf(stderr, "loadgen: kicked: %s\n", frame->pushed.detail.c_str());
      } else if (frame->pushed.what == client::push::kind::message && on_message_) {
        on_message_(frame->pushed.msg.body);
      }
    }
    if (in_.state() != schema::frame_status::complete) fail();
  }

  void fail() {
    if (failed_) return;
    failed_ = true;
    client::response r;
    r.code = wire::ErrorCode::UNAVAILABLE;
    r.error = "connection lost";
    auto pending = std::move(pending_);
    for (auto& [id, cb] : pending) cb(r);
  }

  tcp::socket socket_;
  schema::frame_splitter in_;
  std::deque<schema::frame_words> out_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::function<void(const client::response&)>> pending_;
  bool failed_ = false;
};

}  // namespace

std::shared_ptr<chat_conn> make_parley_conn(asio::io_context& io) {
  return std::make_shared<parley_conn>(io);
}

}  // namespace parley::bench
