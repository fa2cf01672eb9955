#include "parley/server/gateway.hpp"

#include "parley/actors/connection.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/errc.hpp"

#include <asio.hpp>
#include <caf/send.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace parley::server {

namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;


class tcp_session final : public actors::connection_sink,
                          public std::enable_shared_from_this<tcp_session> {
 public:
  using on_closed_fn = std::function<void(tcp_session*)>;

  tcp_session(tcp::socket socket, actors::services& svc, std::size_t max_queue,
              on_closed_fn on_closed)
      : socket_(std::move(socket)),
        svc_(svc),
        max_queue_(max_queue),
        on_closed_(std::move(on_closed)),
        in_(svc.options.frames) {}

  /// Registers with connection `id` of `hub`, then starts reading.
  void start(caf::actor hub, std::uint64_t id) {
    hub_ = std::move(hub);
    id_ = id;
    caf::anon_send(hub_, actors::open_atom::value, id_, actors::sink_ptr(shared_from_this()));
    std::error_code ignored;  // reads are non-blocking after a readiness wait; cannot fail here
    socket_.non_blocking(true, ignored);
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->read_more(); });
  }

  // -- connection_sink (any thread) --

  void send(schema::frame_words frame) override {
    asio::post(socket_.get_executor(), [self = shared_from_this(), f = std::move(frame)]() mutable {
      self->enqueue(std::move(f));
    });
  }

  void close() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->writing_) self->shut();
    });
  }

  void authenticated() override { authenticated_.store(true, std::memory_order_relaxed); }

  /// The sweeper's check (any thread): tells the hub, once, that the client is late.
  void check_deadlines(clock::time_point now, const actors::actor_options& o) {
    if (timed_out_.load(std::memory_order_relaxed)) return;
    const bool login_late = !authenticated_.load(std::memory_order_relaxed) &&
                            now - opened_ >= o.login_timeout;
    const auto last = clock::time_point(clock::duration(last_frame_.load(std::memory_order_relaxed)));
    const bool silent = now - last >= o.heartbeat_timeout;
    if (!login_late && !silent) return;
    if (timed_out_.exchange(true)) return;
    caf::anon_send(hub_, actors::timeout_atom::value, id_, login_late);
  }

  /// Closes at once (node shutdown). Any thread.
  void abort() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->shut(); });
  }

 private:
  // Everything below runs on the socket's strand.

  void read_more() {
    if (closed_ || stop_reading_) return;
    // Wait for readability, then read into a per-thread scratch buffer: an idle connection
    // keeps no read buffer of its own (the splitter holds only an unfinished frame's bytes).
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](std::error_code ec) {
      if (ec) return self->shut();
      self->read_available();
    });
  }

  void read_available() {
    thread_local std::vector<std::uint8_t> scratch(64 * 1024);
    std::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return read_more();
    if (ec) return shut();  // including end of stream
    in_.append(scratch.data(), n);
    extract_frames();
    in_.release_if_drained();
    read_more();
  }

  void extract_frames() {
    last_frame_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    while (auto frame = in_.next()) {
      caf::anon_send(hub_, actors::frame_atom::value, id_, std::move(*frame));
    }
    if (in_.state() != schema::frame_status::complete) {
      // The stream cannot be resynchronised: report and stop reading; the connection closes.
      stop_reading_ = true;
      const auto code = in_.state() == schema::frame_status::too_large ? errc::frame_too_large
                                                                       : errc::malformed_frame;
      caf::anon_send(hub_, actors::badframe_atom::value, id_, static_cast<std::uint16_t>(code));
    }
  }

  void enqueue(schema::frame_words frame) {
    if (closed_) return;
    queued_bytes_ += frame.size() * sizeof(std::uint64_t);
    if (queued_bytes_ > max_queue_) return shut();  // too slow: it resyncs after reconnecting
    out_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  /// Writes every queued frame (up to a batch limit) with one gathering write. While a write
  /// is in flight new frames queue up, so a busy connection sends many frames per syscall and
  /// an idle one sends each frame at once.
  void write_next() {
    if (out_head_ == out_.size()) {
      out_.clear();
      out_head_ = 0;
      writing_ = false;
      if (closing_) shut();
      return;
    }
    writing_ = true;
    constexpr std::size_t max_batch_frames = 64;
    constexpr std::size_t max_batch_bytes = 256 * 1024;
    std::vector<asio::const_buffer> batch;
    std::size_t bytes = 0;
    for (std::size_t i = out_head_;
         i < out_.size() && batch.size() < max_batch_frames && bytes < max_batch_bytes; ++i) {
      batch.emplace_back(out_[i].data(), out_[i].size() * sizeof(std::uint64_t));
      bytes += batch.back().size();
    }
    const std::size_t frames = batch.size();
    asio::async_write(socket_, batch,
                      [self = shared_from_this(), frames](std::error_code ec, std::size_t n) {
                        self->writing_ = false;
                        if (ec || self->closed_) {
                          self->out_.clear();  // the buffers in flight are released only now
                          self->out_head_ = 0;
                          return self->shut();
                        }
                        self->queued_bytes_ -= n;
                        for (std::size_t i = 0; i < frames; ++i) {
                          self->out_[self->out_head_++] = {};  // release the written frames now
                        }
                        self->write_next();
                      });
  }

  void shut() {
    if (closed_) return;
    closed_ = true;
    std::error_code ignored;  // the peer may be gone already; nothing to do about it
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (!writing_) {  // else the write in flight still uses its buffer
      out_.clear();
      out_head_ = 0;
    }
    caf::anon_send(hub_, actors::closed_atom::value, id_);
    on_closed_(this);
  }

  tcp::socket socket_;
  actors::services& svc_;
  const std::size_t max_queue_;
  on_closed_fn on_closed_;
  caf::actor hub_;       // set before the first read; then read-only (the sweeper reads it)
  std::uint64_t id_ = 0;  // this connection's id in hub_
  const clock::time_point opened_ = clock::now();
  std::atomic<clock::rep> last_frame_{clock::now().time_since_epoch().count()};
  std::atomic<bool> authenticated_{false};
  std::atomic<bool> timed_out_{false};
  schema::frame_splitter in_;
  // Write queue as a vector with a read index: an empty std::deque still allocates ~600 bytes,
  // which every idle connection would pay.
  std::vector<schema::frame_words> out_;
  std::size_t out_head_ = 0;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool stop_reading_ = false;
};

}  // namespace

struct gateway::impl {
  impl(actors::services& s, gateway_options o)
      : svc(s), opts(std::move(o)), acceptor(io), work(asio::make_work_guard(io)) {}

  void accept() {
    // One io thread needs no strand per socket (each costs ~130 bytes per connection).
    const auto executor =
        opts.io_threads > 1 ? asio::any_io_executor(asio::make_strand(io)) : io.get_executor();
    acceptor.async_accept(executor, [this](std::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        return accept();  // e.g. out of descriptors: keep serving the others
      }
      std::error_code ignored;  // latency matters more than packet count; failure is harmless
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<tcp_session>(
          std::move(socket), svc, opts.max_send_queue_bytes, [this](tcp_session* s) {
            std::lock_guard<std::mutex> guard(mu);
            sessions.erase(s);
          });
      {
        std::lock_guard<std::mutex> guard(mu);
        sessions.emplace(session.get(), session);
      }
      const std::uint64_t id = next_id++;
      session->start(hubs[id % hubs.size()], id);
      accept();
    });
  }

  /// Checks every connection's login and heartbeat deadlines, a few times per timeout.
  void sweep() {
    sweeper.expires_after(sweep_period());
    sweeper.async_wait([this](std::error_code ec) {
      if (ec) return;  // cancelled: stopping
      const auto now = clock::now();
      {
        std::lock_guard<std::mutex> guard(mu);
        for (auto& [ptr, weak] : sessions) {
          if (auto session = weak.lock()) session->check_deadlines(now, svc.options);
        }
      }
      sweep();
    });
  }

  clock::duration sweep_period() const {
    const auto shortest = std::min(svc.options.login_timeout, svc.options.heartbeat_timeout);
    return std::max<clock::duration>(shortest / 4, std::chrono::milliseconds(10));
  }

  actors::services& svc;
  gateway_options opts;
  asio::io_context io;
  asio::steady_timer sweeper{io};
  tcp::acceptor acceptor;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::unordered_map<tcp_session*, std::weak_ptr<tcp_session>> sessions;
  std::vector<caf::actor> hubs;
  std::uint64_t next_id = 1;  // accept handlers never run concurrently
  bool stopped = false;
};

gateway::gateway(actors::services& svc, gateway_options opts)
    : impl_(std::make_unique<impl>(svc, std::move(opts))) {}

gateway::~gateway() {
  stop();
}

std::variant<std::uint16_t, std::string> gateway::start() {
  auto& i = *impl_;
  std::error_code ec;
  auto address = asio::ip::make_address(i.opts.host, ec);
  if (ec) return "invalid listen address '" + i.opts.host + "': " + ec.message();
  tcp::endpoint endpoint(address, i.opts.port);
  i.acceptor.open(endpoint.protocol(), ec);
  if (!ec) i.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(endpoint, ec);
  if (!ec) i.acceptor.listen(i.opts.backlog, ec);
  if (ec) {
    return "cannot listen on " + i.opts.host + ":" + std::to_string(i.opts.port) + ": " +
           ec.message();
  }
  const std::uint16_t port = i.acceptor.local_endpoint().port();
  for (std::size_t n = 0; n < std::max<std::size_t>(1, i.opts.hubs); ++n) {
    i.hubs.push_back(actors::spawn_connection_hub(i.svc));
  }
  i.accept();
  i.sweep();
  for (std::size_t n = 0; n < std::max<std::size_t>(1, i.opts.io_threads); ++n) {
    i.threads.emplace_back([&i] { i.io.run(); });
  }
  return port;
}

void gateway::stop() {
  auto& i = *impl_;
  if (i.stopped) return;
  i.stopped = true;
  asio::post(i.io, [&i] {
    std::error_code ignored;  // closing a listener cannot fail in a way we could handle
    i.acceptor.close(ignored);
    i.sweeper.cancel();
  });
  std::vector<std::shared_ptr<tcp_session>> live;
  {
    std::lock_guard<std::mutex> guard(i.mu);
    for (auto& [ptr, weak] : i.sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->abort();
  live.clear();
  i.work.reset();
  for (auto& t : i.threads) t.join();
  i.threads.clear();
  // Every socket has reported closed_atom by now (sent before the threads ended).
  for (auto& hub : i.hubs) caf::anon_send(hub, actors::shutdown_atom::value);
  i.hubs.clear();
}

}  // namespace parley::server
