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

class tcp_session;

/// What connection hubs hand to the sockets, on its way to the io thread(s): frames, and
/// closes (a null frame). A fan-out queues one frame for each of many sockets in a burst; the
/// outbox posts one task for the whole burst instead of one per frame (each post is an
/// allocation, a lock and possibly a wake-up of the io thread). Entries stay in order, so a
/// close follows the frames queued before it.
class outbox {
 public:
  /// `on_strand`: one io thread and no strands, so the io thread may run sockets' code
  /// directly.
  outbox(asio::io_context& io, bool on_strand) : io_(io), on_strand_(on_strand) {}

  /// Any thread.
  void put(std::shared_ptr<tcp_session> session, schema::shared_frame frame) {
    std::lock_guard<std::mutex> guard(mu_);
    pending_.push_back(entry{std::move(session), std::move(frame)});
    if (scheduled_) return;
    scheduled_ = true;
    asio::post(io_, [this] { drain(); });
  }

 private:
  struct entry {
    std::shared_ptr<tcp_session> session;
    schema::shared_frame frame;  // null: close after the frames before
  };

  void drain();  // on an io thread

  asio::io_context& io_;
  const bool on_strand_;
  std::mutex mu_;
  std::vector<entry> pending_;
  bool scheduled_ = false;
};

class tcp_session final : public actors::connection_sink,
                          public std::enable_shared_from_this<tcp_session> {
 public:
  using on_closed_fn = std::function<void(tcp_session*)>;

  tcp_session(tcp::socket socket, actors::services& svc, outbox& out, std::size_t max_queue,
              on_closed_fn on_closed)
      : socket_(std::move(socket)),
        svc_(svc),
        outbox_(out),
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

  void send(schema::shared_frame frame) override { outbox_.put(shared_from_this(), std::move(frame)); }

  void close() override { outbox_.put(shared_from_this(), nullptr); }

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

  /// The outbox's delivery of send() and close(), on an io thread. `on_strand`: the caller
  /// runs in this socket's execution context already (one io thread, no strands); then a
  /// true result asks it to call flush() once its batch is delivered.
  bool deliver(schema::shared_frame frame, bool on_strand) {
    if (on_strand) return take(std::move(frame));
    asio::dispatch(socket_.get_executor(), [self = shared_from_this(), f = std::move(frame)]() mutable {
      if (self->take(std::move(f))) {
        asio::post(self->socket_.get_executor(), [self] { self->flush(); });
      }
    });
    return false;
  }

  /// Writes what take() queued: after the outbox batch at hand, so that all its frames for
  /// this socket leave in one write.
  void flush() {
    flush_pending_ = false;
    if (!closed_) write_queued();
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

  /// Queues a frame, or a close if null. True: a flush() is needed (none is pending and no
  /// wait for writability will write the queue anyway).
  bool take(schema::shared_frame frame) {
    if (closed_) return false;
    if (!frame) {  // close once the queue is written
      closing_ = true;
      if (!waiting_writable_ && !flush_pending_) shut();
      return false;
    }
    // A client that does not read is cut off (it resyncs after reconnecting); one frame fits
    // into an empty queue whatever its size.
    if (queued_bytes_ > 0 && queued_bytes_ + bytes_of(*frame) > max_queue_) {
      shut();
      return false;
    }
    queued_bytes_ += bytes_of(*frame);
    out_.push_back(std::move(frame));
    if (waiting_writable_ || flush_pending_) return false;
    flush_pending_ = true;
    return true;
  }

  /// Writes the queued frames with non-blocking gathering writes (up to 64 frames per
  /// syscall) until the queue is empty or the socket buffer is full; then waits for
  /// writability and goes on. Frames queued meanwhile leave with the others, so a busy
  /// connection pays far fewer syscalls per frame, and an idle one writes each frame at once.
  void write_queued() {
    constexpr std::size_t max_batch_frames = 64;
    thread_local std::vector<asio::const_buffer> batch;
    while (out_head_ < out_.size()) {
      batch.clear();
      std::size_t skip = out_offset_;  // bytes of the first frame already written
      for (std::size_t i = out_head_; i < out_.size() && batch.size() < max_batch_frames; ++i) {
        const auto& words = *out_[i];
        batch.emplace_back(reinterpret_cast<const char*>(words.data()) + skip,
                           bytes_of(words) - skip);
        skip = 0;
      }
      std::error_code ec;
      const std::size_t n = socket_.write_some(batch, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again || (!ec && n == 0)) {
        return wait_writable();
      }
      if (ec) return shut();
      consume(n);
    }
    out_.clear();
    out_head_ = 0;
    if (closing_) shut();
  }

  /// Drops `n` written bytes from the head of the queue.
  void consume(std::size_t n) {
    queued_bytes_ -= n;
    while (n > 0) {
      const std::size_t left = bytes_of(*out_[out_head_]) - out_offset_;
      if (n < left) {
        out_offset_ += n;
        return;
      }
      n -= left;
      out_offset_ = 0;
      out_[out_head_++].reset();  // release a written frame at once
    }
  }

  void wait_writable() {
    waiting_writable_ = true;
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](std::error_code ec) {
      self->waiting_writable_ = false;
      if (ec || self->closed_) return self->shut();
      self->write_queued();
    });
  }

  static std::size_t bytes_of(const schema::frame_words& words) {
    return words.size() * sizeof(std::uint64_t);
  }

  void shut() {
    if (closed_) return;
    closed_ = true;
    std::error_code ignored;  // the peer may be gone already; nothing to do about it
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    out_.clear();  // no write is in flight: writes are synchronous, only waits are not
    out_head_ = 0;
    out_offset_ = 0;
    caf::anon_send(hub_, actors::closed_atom::value, id_);
    on_closed_(this);
  }

  tcp::socket socket_;
  actors::services& svc_;
  outbox& outbox_;
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
  std::vector<schema::shared_frame> out_;
  std::size_t out_head_ = 0;
  std::size_t out_offset_ = 0;  // bytes of out_[out_head_] already written
  std::size_t queued_bytes_ = 0;
  bool waiting_writable_ = false;
  bool flush_pending_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool stop_reading_ = false;
};

void outbox::drain() {
  std::vector<entry> batch;
  {
    std::lock_guard<std::mutex> guard(mu_);
    batch.swap(pending_);
    scheduled_ = false;
  }
  std::vector<std::shared_ptr<tcp_session>> to_flush;
  for (auto& e : batch) {
    if (e.session->deliver(std::move(e.frame), on_strand_)) to_flush.push_back(std::move(e.session));
  }
  for (auto& s : to_flush) s->flush();
  batch.clear();
  std::lock_guard<std::mutex> guard(mu_);
  if (pending_.empty() && pending_.capacity() < batch.capacity()) pending_.swap(batch);  // reuse
}

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
          std::move(socket), svc, out, opts.max_send_queue_bytes, [this](tcp_session* s) {
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
  outbox out{io, opts.io_threads <= 1};
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
