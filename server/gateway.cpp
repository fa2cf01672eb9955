#include "parley/server/gateway.hpp"
#include "parley/schema/log.hpp"

#include "parley/actors/connection.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/schema/tls.hpp"
#include "ws_engine.hpp"

#include <asio.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace parley::server {

namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

class tcp_session;

/// Frame bytes handed to hubs and not yet answered, node-wide, and the sockets waiting for this
/// budget to free up. Thread-safe.
class inflight_budget {
 public:
  explicit inflight_budget(std::size_t max) : max_(max) {}

  bool exhausted() const { return bytes_.load(std::memory_order_relaxed) >= max_; }
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  void charge(std::size_t n) { bytes_.fetch_add(n, std::memory_order_relaxed); }

  /// Gives back `n` bytes; wakes the starved sockets when the budget stops being exhausted
  /// (a socket that finds it exhausted again registers again).
  void release(std::size_t n);

  /// Registers a socket paused for want of budget. It re-checks exhausted() after this call.
  void wait(std::weak_ptr<tcp_session> s) {
    std::lock_guard<std::mutex> guard(mu_);
    starved_.push_back(std::move(s));
  }

 private:
  const std::size_t max_;
  std::atomic<std::size_t> bytes_{0};
  std::mutex mu_;
  std::vector<std::weak_ptr<tcp_session>> starved_;
};

/// What connection hubs hand to the sockets, on its way to the loop: frames, and
/// closes (a null frame). A fan-out queues one frame for each of many sockets in a burst; the
/// outbox posts one task for the whole burst instead of one per frame (each post is an
/// allocation, a lock and possibly a wake-up of a loop thread). Entries stay in order, so a
/// close follows the frames queued before it.
///
/// When frames have been sharing sockets' writes (a busy fan-out), the task hands them over
/// only once no actor waits on the loop (after at most `max_deferrals` turns): the waiting
/// actors are what queues more frames for the same sockets (the next messages of a busy
/// group), and frames taken in one batch leave a socket in one write. Otherwise (1:1 traffic:
/// the ack and the push go to different sockets) waiting would add latency and save nothing,
/// and an idle loop has no actor waiting, so a lone frame is never held back.
class outbox {
 public:
  /// `single_thread`: one loop thread and no strands, so the loop may run sockets' code
  /// directly.
  outbox(runtime::event_loop& loop, bool single_thread)
      : loop_(loop), io_(loop.io()), single_thread_(single_thread) {}

  /// The gateway whose member this is: a queued drain keeps it alive.
  void owned_by(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

  /// Any thread.
  void put(std::shared_ptr<tcp_session> session, schema::shared_frame frame) {
    std::lock_guard<std::mutex> guard(mu_);
    pending_.push_back(entry{std::move(session), std::move(frame)});
    if (scheduled_) return;
    scheduled_ = true;
    asio::post(io_, [this, keep = owner_.lock()] { drain(); });
  }

 private:
  struct entry {
    std::shared_ptr<tcp_session> session;
    schema::shared_frame frame;  // null: close after the frames before
  };

  void drain();  // on a loop thread

  /// Turns a drain waits at most for actors to finish: each turn lets every handler queued
  /// before it run, and a saturated loop always has actors waiting. 10 groups x 100 members,
  /// in memory, node on one core (docs/benchmarks.md): no wait passed 1,200 group msg/s at a
  /// p99 of 335-385 ms (a `sendmsg` per 1.5 deliveries); 16 turns passed 2,400 (p99 40-106 ms);
  /// 64 passed 3,600 (46-135 ms); a 1 ms bound instead of turns passed only 1,200. Waiting
  /// always, 1:1 at 12,000 msg/s had p99 of 190-240 ms where not waiting had 47-70 ms.
  static constexpr int max_deferrals = 64;
  /// Batches share writes once at least 1 frame in `sharing_on` joined an earlier frame of the
  /// same batch on its socket (without waiting, 10 x 100 near its knee: 1 in 3), and until
  /// fewer than 1 in `sharing_off` do (waiting itself raises the share: without the margin the
  /// outbox turned waiting off and on, and 10 x 100 failed a step earlier).
  static constexpr std::size_t sharing_on = 8;
  static constexpr std::size_t sharing_off = 64;

  runtime::event_loop& loop_;
  asio::io_context& io_;
  const bool single_thread_;
  std::weak_ptr<void> owner_;
  std::mutex mu_;
  std::vector<entry> pending_;
  bool scheduled_ = false;
  // The drain task's. With several loop threads a drain may start while the last one still
  // hands over its batch: atomics, and the figures are then a heuristic's approximation.
  std::atomic<int> deferrals_{0};
  std::atomic<std::uint64_t> batch_number_{0};  // the batch a session's outbox_batch refers to
  std::atomic<bool> sharing_{false};            // whether the last batch shared sockets' writes
};

/// The byte layers between a socket and its frames when the connection is not plain TCP:
/// TLS, a WebSocket, or a WebSocket over TLS. Each is a memory-buffer engine (schema/tls.hpp,
/// ws_engine.hpp); this stacks them so that the session sees one input and one output.
/// The socket's strand only.
class wire_layers {
 public:
  wire_layers(const std::optional<schema::tls_context>& tls, const ws_settings* ws,
              const schema::frame_limits& limits)
      : tls_(tls ? std::make_unique<schema::tls_engine>(*tls) : nullptr),
        ws_(ws ? std::make_unique<ws_engine>(*ws, limits) : nullptr) {}

  /// Bytes read from the socket; the frames' bytes go to `into`. False: the connection is
  /// over (the peer closed its session, a handshake or record failed): write what output is
  /// left, then close.
  bool feed(const std::uint8_t* data, std::size_t n, schema::frame_splitter& into) {
    if (!tls_) return to_frames(data, n, into);
    tls_->feed(data, n);
    thread_local std::vector<std::uint8_t> plain(16 * 1024);
    for (;;) {
      const auto r = tls_->read(plain.data(), plain.size());
      if (r.st != schema::tls_engine::status::ok) {
        return r.st == schema::tls_engine::status::need_input;
      }
      if (!to_frames(plain.data(), r.n, into)) return false;
    }
  }

  /// A frame-level error of the WebSocket layer (a message that is not one frame, or too
  /// large), as an errc value; 0: none.
  std::uint16_t frame_error() const { return frame_error_; }

  /// Whether frames can be written (every handshake is done).
  bool open() const { return (!tls_ || tls_->handshake_done()) && (!ws_ || ws_->open()); }

  /// Hands over bytes of the frame at hand and returns how many were taken (a WebSocket
  /// takes the whole frame as one message); 0: the connection cannot send any more.
  std::size_t write(const std::uint8_t* data, std::size_t n) {
    if (!ws_) return tls_->write(data, n);
    if (!ws_->write(data, n)) return 0;
    return pump() ? n : 0;
  }

  /// The bytes for the socket. Under TLS, WebSocket output that did not fit into the TLS
  /// engine (it holds ~64 KiB) moves in as the socket takes its output.
  std::size_t output_size() {
    pump();
    return tls_ ? tls_->output_size() : ws_->output_size();
  }
  const std::uint8_t* output_data() const {
    return tls_ ? tls_->output_data() : ws_->output_data();
  }
  void consume_output(std::size_t n) { tls_ ? tls_->consume_output(n) : ws_->consume_output(n); }

  /// Raises the frame limits after a login.
  void set_limits(const schema::frame_limits& limits) {
    if (ws_) ws_->set_limits(limits);
  }

  /// Queues the closing messages: a WebSocket Close, a TLS close_notify.
  void close() {
    if (ws_) ws_->close();
    pump();
    if (tls_) tls_->close();
  }

 private:
  bool to_frames(const std::uint8_t* data, std::size_t n, schema::frame_splitter& into) {
    if (!ws_) {
      into.append(data, n);
      return true;
    }
    const auto st = ws_->feed(data, n, into);
    if (st == ws_engine::status::bad_message)
      frame_error_ = static_cast<std::uint16_t>(errc::malformed_frame);
    if (st == ws_engine::status::too_large)
      frame_error_ = static_cast<std::uint16_t>(errc::frame_too_large);
    const bool ended =
        st == ws_engine::status::ended || (st == ws_engine::status::too_large && !ws_->open());
    // A handshake answer, a pong or a Close the engine wrote goes under TLS now.
    return pump() && !ended;
  }

  /// Moves as much WebSocket output into the TLS engine as it takes. False if TLS failed.
  bool pump() {
    if (!tls_ || !ws_) return true;
    while (ws_->output_size() > 0) {
      const std::size_t taken = tls_->write(ws_->output_data(), ws_->output_size());
      if (taken == 0) break;  // its output is full (or it failed)
      ws_->consume_output(taken);
    }
    return !tls_->failed();
  }

  std::unique_ptr<schema::tls_engine> tls_;
  std::unique_ptr<ws_engine> ws_;
  std::uint16_t frame_error_ = 0;
};

/// What every socket of a gateway shares.
struct session_context {
  actors::services& svc;
  const gateway_options& opts;
  const std::optional<schema::tls_context>& tls;  // set: every socket speaks TLS
  const ws_settings* ws;                          // set: every socket speaks WebSocket
  outbox& out;
  inflight_budget& budget;
  std::atomic<std::uint64_t>& paused_reads;
  std::atomic<std::uint64_t>& throttled_reads;
  std::atomic<std::size_t>& live_sessions;  // tcp_session objects not yet destroyed
};

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

/// The remote end of `socket` (unspecified if it is already gone).
tcp::endpoint remote_of(const tcp::socket& socket) {
  std::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  return ec ? tcp::endpoint() : endpoint;
}

class tcp_session final : public actors::connection_sink,
                          public std::enable_shared_from_this<tcp_session> {
 public:
  using on_closed_fn = std::function<void(tcp_session*)>;

  tcp_session(tcp::socket socket, session_context& ctx, on_closed_fn on_closed)
      : socket_(std::move(socket)),
        peer_(remote_of(socket_)),
        ctx_(ctx),
        on_closed_(std::move(on_closed)),
        in_(unauthenticated_limits(ctx.svc.options)),
        layers_(ctx.tls || ctx.ws ? std::make_unique<wire_layers>(
                                        ctx.tls, ctx.ws, unauthenticated_limits(ctx.svc.options))
                                  : nullptr) {
    ctx_.live_sessions.fetch_add(1, std::memory_order_relaxed);
  }

  // The gateway waits for every session to go before it goes (they refer to its context).
  ~tcp_session() override { ctx_.live_sessions.fetch_sub(1, std::memory_order_acq_rel); }
  tcp_session(const tcp_session&) = delete;
  tcp_session& operator=(const tcp_session&) = delete;

  /// Registers with connection `id` of `hub`, then starts reading.
  void start(caf::actor hub, std::uint64_t id) {
    hub_ = std::move(hub);
    id_ = id;
    const auto opened = std::chrono::duration_cast<std::chrono::nanoseconds>(
        clock::now().time_since_epoch());  // steady: orders this node's connections
    caf::anon_send(hub_, actors::open_atom::value, id_, actors::sink_ptr(shared_from_this()),
                   static_cast<std::uint64_t>(opened.count()));
    std::error_code ignored;  // reads are non-blocking after a readiness wait; cannot fail here
    socket_.non_blocking(true, ignored);
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->read_more(); });
  }

  // -- connection_sink (any thread) --

  void send(schema::shared_frame frame) override {
    ctx_.out.put(shared_from_this(), std::move(frame));
  }

  void close() override { ctx_.out.put(shared_from_this(), nullptr); }

  std::string peer() const override {
    return peer_.address().to_string() + ":" + std::to_string(peer_.port());
  }

  void authenticated(std::uint64_t expires_unix_s) override {
    expires_unix_s_.store(expires_unix_s, std::memory_order_relaxed);
    authenticated_.store(true, std::memory_order_release);
  }

  void answered(std::size_t frame_bytes) override {
    inflight_frames_.fetch_sub(1, std::memory_order_relaxed);
    const auto before = inflight_bytes_.fetch_sub(frame_bytes, std::memory_order_acq_rel);
    if (before & closed_bit) return;  // shut() gave this frame's bytes back already
    ctx_.budget.release(frame_bytes);
    wake();
  }

  /// Resumes reading if it was paused and may go on now. Any thread. A socket held back by
  /// the node-wide budget (rather than by its own limits, which its next answer lifts) is
  /// registered to be woken when the budget frees up.
  void wake() {
    if (!paused_.load(std::memory_order_acquire)) return;
    if (!may_read()) {
      if (!ctx_.budget.exhausted()) return;  // its own limits: its next answer wakes it
      wait_for_budget();
      if (!may_read()) return;  // registered: the budget's next release wakes it
    }
    if (!paused_.exchange(false)) return;  // someone else resumes it
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->resume(); });
  }

  /// The budget's wake-up: this socket is no longer registered with it.
  void budget_freed() {
    starving_.store(false, std::memory_order_release);
    wake();
  }

  /// The sweeper's check (any thread): tells the hub, once, that a deadline passed; cuts a
  /// connection that was told to close but does not take its last frames.
  void check_deadlines(clock::time_point now, const actors::actor_options& o) {
    const auto closing = closing_since_.load(std::memory_order_relaxed);
    if (closing != 0 && now - at(closing) >= ctx_.opts.close_grace) return abort();
    if (timed_out_.load(std::memory_order_relaxed)) return;
    std::uint16_t reason = 0;
    const bool authenticated = authenticated_.load(std::memory_order_acquire);
    const auto partial = partial_since_.load(std::memory_order_relaxed);
    // A paused socket is the server's doing, not the client's: no heartbeat or frame clock.
    const bool paused =
        paused_.load(std::memory_order_relaxed) || throttled_.load(std::memory_order_relaxed);
    if (!authenticated && now - opened_ >= o.login_timeout) {
      reason = actors::kick_reason::login_timeout;
    } else if (authenticated && unix_now() >= expires_unix_s_.load(std::memory_order_relaxed)) {
      reason = actors::kick_reason::token_expired;
    } else if (!paused && partial != 0 && now - at(partial) >= o.frame_timeout) {
      reason = actors::kick_reason::frame_timeout;
    } else if (!paused &&
               now - at(last_frame_.load(std::memory_order_relaxed)) >= o.heartbeat_timeout) {
      reason = actors::kick_reason::heartbeat_timeout;
    }
    if (reason == 0 || timed_out_.exchange(true)) return;
    caf::anon_send(hub_, actors::timeout_atom::value, id_, reason);
  }

  /// Closes at once (node shutdown, close grace over). Any thread.
  void abort() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->shut(); });
  }

  /// The outbox's own: the batch that last handed this socket a frame.
  std::atomic<std::uint64_t> outbox_batch{0};

  /// The outbox's delivery of send() and close(), on a loop thread. `single_thread`: the caller
  /// runs in this socket's execution context already (one loop thread, no strands); then a
  /// true result asks it to call flush() once its batch is delivered.
  bool deliver(schema::shared_frame frame, bool single_thread) {
    if (single_thread) return take(std::move(frame));
    asio::dispatch(socket_.get_executor(),
                   [self = shared_from_this(), f = std::move(frame)]() mutable {
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
  static clock::time_point at(clock::rep ticks) {
    return clock::time_point(clock::duration(ticks));
  }
  static clock::rep ticks(clock::time_point t) { return t.time_since_epoch().count(); }

  static schema::frame_limits unauthenticated_limits(const actors::actor_options& o) {
    auto limits = o.frames;
    limits.max_frame_bytes = std::min(limits.max_frame_bytes, o.max_unauthenticated_frame_bytes);
    return limits;
  }

  /// Set in inflight_bytes_ once the socket is closed: answers arriving later must not give
  /// their bytes back to the node budget a second time.
  static constexpr std::size_t closed_bit = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);

  /// Whether another frame may be handed to the hub (any thread).
  bool may_read() const {
    const auto frames = inflight_frames_.load(std::memory_order_relaxed);
    if (frames == 0) return !ctx_.budget.exhausted();
    return frames < ctx_.opts.max_requests_in_flight &&
           inflight_bytes_.load(std::memory_order_relaxed) <
               ctx_.opts.max_inflight_bytes_per_connection &&
           !ctx_.budget.exhausted();
  }

  // Everything below runs on the socket's strand.

  void read_more() {
    for (;;) {
      if (closed_ || stop_reading_) return;
      if (const auto wait = rate_debt(clock::now()); wait > clock::duration::zero()) {
        return throttle(wait);
      }
      if (!may_read()) return pause();
      // Whole frames may still be buffered: extract_frames() stopped at a limit that an
      // answer on another thread has lifted since. The socket may never become readable
      // again (the client sent them all and waits), so take them before waiting on it.
      if (!frames_buffered_) break;
      extract_frames();
    }
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
    raise_limits_after_login();
    if (!layers_) {
      in_.append(scratch.data(), n);
    } else if (!layers_->feed(scratch.data(), n, in_)) {
      // The session ended or failed: hand on the frames that came before (and report a frame
      // error of the layers), send what the layers still have to say (a WebSocket Close or
      // refusal, a TLS alert), then close.
      extract_frames();
      stop_reading_ = true;
      begin_closing();
      if (!waiting_writable_ && !flush_pending_) write_queued();
      return;
    }
    extract_frames();
    if (layers_) write_layers_progress();
    read_more();
  }

  /// After a read: a handshake may have produced bytes to send (or a pong), or finished and
  /// so let frames queued before it (a login timeout's Kicked) go out.
  void write_layers_progress() {
    if (closed_ || waiting_writable_ || flush_pending_) return;
    if (layers_->output_size() > 0 || (layers_->open() && out_head_ < out_.size())) {
      write_queued();
    }
  }

  /// Stops reading until answers (or the node budget) let more frames in.
  void pause() {
    paused_.store(true, std::memory_order_release);
    ctx_.paused_reads.fetch_add(1, std::memory_order_relaxed);
    partial_since_.store(0, std::memory_order_relaxed);
    if (ctx_.budget.exhausted()) wait_for_budget();
    // An answer may have arrived between the check and the flag: look again.
    if (may_read() && paused_.exchange(false)) resume();
  }

  /// How long until this connection is within its request and byte rates again.
  clock::duration rate_debt(clock::time_point now) const {
    return std::max(sent_frames_.debt(ctx_.opts.connection_rate, now),
                    sent_bytes_.debt(ctx_.opts.connection_byte_rate, now));
  }

  /// Stops reading for `wait` (the connection is over its rates), then goes on. The timer is
  /// made the first time a socket is throttled: most never are.
  void throttle(clock::duration wait) {
    if (throttle_armed_) return;
    throttle_armed_ = true;
    throttled_.store(true, std::memory_order_relaxed);
    ctx_.throttled_reads.fetch_add(1, std::memory_order_relaxed);
    partial_since_.store(0, std::memory_order_relaxed);  // no frame clock while not read
    if (!throttle_timer_)
      throttle_timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor());
    throttle_timer_->expires_after(wait);
    throttle_timer_->async_wait([self = shared_from_this()](std::error_code ec) {
      self->throttle_armed_ = false;
      self->throttled_.store(false, std::memory_order_relaxed);
      if (!ec) self->resume();
    });
  }

  /// Registers with the node budget, once until it wakes this socket.
  void wait_for_budget() {
    if (!starving_.exchange(true, std::memory_order_acq_rel)) ctx_.budget.wait(weak_from_this());
  }

  void resume() {
    if (closed_) return;
    extract_frames();
    read_more();
  }

  /// Once logged in, frames may be full size: in the splitter and, before it is fed, in the
  /// WebSocket layer (which checks a message's size as it arrives).
  void raise_limits_after_login() {
    if (!raised_limits_ && authenticated_.load(std::memory_order_acquire)) {
      raised_limits_ = true;
      in_.set_limits(ctx_.svc.options.frames);
      if (layers_) layers_->set_limits(ctx_.svc.options.frames);
    }
  }

  void extract_frames() {
    raise_limits_after_login();
    bool took = false;
    const auto now = clock::now();
    frames_buffered_ = true;  // until next() says no whole frame is left
    while (may_read() && rate_debt(now) == clock::duration::zero()) {
      auto frame = in_.next();
      if (!frame) {
        frames_buffered_ = false;
        break;
      }
      const std::size_t bytes = frame->size() * sizeof(std::uint64_t);
      sent_frames_.charge(ctx_.opts.connection_rate, now, 1);
      sent_bytes_.charge(ctx_.opts.connection_byte_rate, now, static_cast<double>(bytes));
      inflight_frames_.fetch_add(1, std::memory_order_relaxed);
      inflight_bytes_.fetch_add(bytes, std::memory_order_relaxed);
      ctx_.budget.charge(bytes);
      took = true;
      caf::anon_send(hub_, actors::frame_atom::value, id_, std::move(*frame));
    }
    if (took) last_frame_.store(ticks(now), std::memory_order_relaxed);
    in_.release_if_drained();
    // The frame deadline runs while an unfinished frame is buffered; it starts with its first
    // byte and is not reset by later bytes of the same frame.
    if (!in_.holds_partial_frame()) {
      partial_since_.store(0, std::memory_order_relaxed);
    } else if (partial_since_.load(std::memory_order_relaxed) == 0) {
      partial_since_.store(ticks(now), std::memory_order_relaxed);
    }
    const std::uint16_t layer_error = layers_ ? layers_->frame_error() : 0;
    if (!stop_reading_ && (in_.state() != schema::frame_status::complete || layer_error != 0)) {
      // The stream cannot be resynchronised: report and stop reading; the connection closes.
      stop_reading_ = true;
      const auto code = layer_error != 0 ? layer_error
                        : in_.state() == schema::frame_status::too_large
                            ? static_cast<std::uint16_t>(errc::frame_too_large)
                            : static_cast<std::uint16_t>(errc::malformed_frame);
      caf::anon_send(hub_, actors::badframe_atom::value, id_, code);
    }
  }

  /// Queues a frame, or a close if null. True: a flush() is needed (none is pending and no
  /// wait for writability will write the queue anyway).
  bool take(schema::shared_frame frame) {
    if (closed_ || kicked_slow_) return false;
    if (!frame) {  // close once the queue is written
      begin_closing();
      if (!waiting_writable_ && !flush_pending_) shut();
      return false;
    }
    // A client that does not read is told so and cut off (it resyncs after reconnecting); one
    // frame fits into an empty queue whatever its size.
    if (queued_bytes_ > 0 && queued_bytes_ + bytes_of(*frame) > ctx_.opts.max_send_queue_bytes) {
      kick_too_slow();
      frame = nullptr;
    } else {
      queued_bytes_ += bytes_of(*frame);
      out_.push_back(std::move(frame));
    }
    if (waiting_writable_ || flush_pending_) return false;
    flush_pending_ = true;
    return true;
  }

  /// Replaces the unwritten frames by a Kicked(tooSlow) frame and closes after it (or after
  /// the close grace, if the client still does not read).
  void kick_too_slow() {
    kicked_slow_ = true;
    // Keep the frame being written (the client must see whole frames), drop the rest.
    const std::size_t keep = out_head_ + (out_offset_ > 0 ? 1 : 0);
    for (std::size_t i = keep; i < out_.size(); ++i) queued_bytes_ -= bytes_of(*out_[i]);
    out_.resize(keep);
    auto kick = actors::encode_kicked(actors::kick_reason::too_slow,
                                      "the client did not read its messages; reconnect to resync");
    queued_bytes_ += bytes_of(*kick);
    out_.push_back(std::move(kick));
    begin_closing();
  }

  void begin_closing() {
    closing_ = true;
    if (closing_since_.load(std::memory_order_relaxed) == 0) {
      closing_since_.store(ticks(clock::now()), std::memory_order_relaxed);
    }
  }

  /// Writes the queued frames with non-blocking gathering writes (up to 64 frames per
  /// syscall) until the queue is empty or the socket buffer is full; then waits for
  /// writability and goes on. Frames queued meanwhile leave with the others, so a busy
  /// connection pays far fewer syscalls per frame, and an idle one writes each frame at once.
  void write_queued() {
    if (layers_) return write_queued_layers();
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

  /// write_queued() over TLS and/or WebSocket: hands the queued frames to the layers as they
  /// take them (TLS holds at most ~64 KiB of ciphertext, a WebSocket one message) and writes
  /// their output. Before the handshakes are done nothing can be sent; the read side calls
  /// again when they progress.
  void write_queued_layers() {
    for (;;) {
      while (layers_->output_size() > 0) {
        std::error_code ec;
        const std::size_t n =
            socket_.write_some(asio::buffer(layers_->output_data(), layers_->output_size()), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again || (!ec && n == 0)) {
          return wait_writable();
        }
        if (ec) return shut();
        layers_->consume_output(n);
      }
      if (out_head_ == out_.size() || !layers_->open()) break;
      const auto& words = *out_[out_head_];
      const auto* at = reinterpret_cast<const std::uint8_t*>(words.data()) + out_offset_;
      const std::size_t taken = layers_->write(at, bytes_of(words) - out_offset_);
      if (taken == 0) return shut();  // the engine failed: nothing more can be sent
      consume(taken);
    }
    if (out_head_ < out_.size()) {  // the handshake is not done
      if (closing_) shut();         // and never will be: what is queued cannot be sent
      return;
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
    if (layers_) {            // a Close, a close_notify, if the socket takes them now: a clean end
      layers_->close();
      if (layers_->output_size() > 0) {
        socket_.write_some(asio::buffer(layers_->output_data(), layers_->output_size()), ignored);
      }
    }
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (throttle_timer_) throttle_timer_->cancel();
    out_.clear();  // no write is in flight: writes are synchronous, only waits are not
    out_head_ = 0;
    out_offset_ = 0;
    // Requests still unanswered may never be (the hub drops a closed connection's answers):
    // their bytes go back to the node budget now, once.
    const auto unanswered = inflight_bytes_.fetch_or(closed_bit, std::memory_order_acq_rel);
    ctx_.budget.release(unanswered & ~closed_bit);
    caf::anon_send(hub_, actors::closed_atom::value, id_);
    on_closed_(this);
  }

  tcp::socket socket_;
  tcp::endpoint peer_;  ///< For the logs (the socket cannot be asked from other threads).
  session_context& ctx_;
  on_closed_fn on_closed_;
  caf::actor hub_;        // set before the first read; then read-only (the sweeper reads it)
  std::uint64_t id_ = 0;  // this connection's id in hub_
  const clock::time_point opened_ = clock::now();
  // Shared with the sweeper and the hub's threads.
  std::atomic<clock::rep> last_frame_{ticks(clock::now())};  // last complete frame
  std::atomic<clock::rep> partial_since_{0};  // first byte of the unfinished frame; 0: none
  std::atomic<clock::rep> closing_since_{0};  // when closing began; 0: not closing
  std::atomic<std::uint64_t> expires_unix_s_{0};
  std::atomic<bool> authenticated_{false};
  std::atomic<bool> timed_out_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> starving_{false};   // registered with the node budget
  std::atomic<bool> throttled_{false};  // not read until the rates' debt is paid
  std::atomic<std::size_t> inflight_frames_{0};
  std::atomic<std::size_t> inflight_bytes_{0};
  // The socket's strand only.
  schema::frame_splitter in_;
  std::unique_ptr<wire_layers> layers_;  // null: plain TCP
  bool raised_limits_ = false;
  runtime::token_bucket sent_frames_;  // against opts.connection_rate
  runtime::token_bucket sent_bytes_;   // against opts.connection_byte_rate
  std::unique_ptr<asio::steady_timer> throttle_timer_;
  bool throttle_armed_ = false;
  // Write queue as a vector with a read index: an empty std::deque still allocates ~600 bytes,
  // which every idle connection would pay.
  std::vector<schema::shared_frame> out_;
  std::size_t out_head_ = 0;
  std::size_t out_offset_ = 0;  // bytes of out_[out_head_] already written
  std::size_t queued_bytes_ = 0;
  bool waiting_writable_ = false;
  bool flush_pending_ = false;
  bool closing_ = false;
  bool kicked_slow_ = false;
  bool closed_ = false;
  bool stop_reading_ = false;
  bool frames_buffered_ = false;  // extract_frames() stopped at a limit, not at the buffer's end
};

void inflight_budget::release(std::size_t n) {
  const std::size_t before = bytes_.fetch_sub(n, std::memory_order_relaxed);
  if (before < max_ || before - n >= max_) return;  // no crossing below the bound
  std::vector<std::weak_ptr<tcp_session>> starved;
  {
    std::lock_guard<std::mutex> guard(mu_);
    starved.swap(starved_);
  }
  for (auto& weak : starved) {
    if (auto s = weak.lock()) s->budget_freed();
  }
}

void outbox::drain() {
  constexpr auto relaxed = std::memory_order_relaxed;
  if (sharing_.load(relaxed) && deferrals_.load(relaxed) < max_deferrals &&
      loop_.actors_waiting() > 0) {
    deferrals_.fetch_add(1, relaxed);
    asio::post(io_, [this, keep = owner_.lock()] { drain(); });
    return;
  }
  deferrals_.store(0, relaxed);
  std::vector<entry> batch;
  {
    std::lock_guard<std::mutex> guard(mu_);
    batch.swap(pending_);
    scheduled_ = false;
  }
  const std::uint64_t number = batch_number_.fetch_add(1, relaxed) + 1;
  std::size_t frames = 0;
  std::size_t joined = 0;  // frames whose socket already had one in this batch
  std::vector<std::shared_ptr<tcp_session>> to_flush;
  for (auto& e : batch) {
    if (e.frame) {
      ++frames;
      if (e.session->outbox_batch.exchange(number, relaxed) == number) ++joined;
    }
    if (e.session->deliver(std::move(e.frame), single_thread_))
      to_flush.push_back(std::move(e.session));
  }
  if (frames > 0) {
    const std::size_t share = sharing_.load(relaxed) ? sharing_off : sharing_on;
    sharing_.store(joined * share >= frames, relaxed);
  }
  for (auto& s : to_flush) s->flush();
  batch.clear();
  std::lock_guard<std::mutex> guard(mu_);
  if (pending_.empty() && pending_.capacity() < batch.capacity()) pending_.swap(batch);  // reuse
}

/// Accept errors that mean "no descriptor or memory for now": retrying at once would spin.
bool resource_exhausted(const std::error_code& ec) {
  return ec.value() == EMFILE || ec.value() == ENFILE || ec.value() == ENOBUFS ||
         ec.value() == ENOMEM;
}

}  // namespace

std::size_t derive_max_connections(std::size_t configured, std::size_t reserved) {
  if (configured > 0) return configured;
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) != 0 || fds.rlim_cur == RLIM_INFINITY) return 1u << 20;
  const auto limit = static_cast<std::size_t>(fds.rlim_cur);
  // At least a few connections even with a tiny limit, so a misconfiguration is visible as
  // refusals rather than as a node that accepts nobody.
  return limit > reserved + 16 ? limit - reserved : 16;
}

// Handlers queued on the loop hold a reference to the impl (`self`), so a gateway destroyed while
// some are still queued (a cancelled accept or timer) leaves them a live object.
struct gateway::impl : std::enable_shared_from_this<gateway::impl> {
  impl(actors::services& s, gateway_options o, runtime::event_loop& loop)
      : svc(s),
        opts(std::move(o)),
        io(loop.io()),
        threads(loop.threads()),
        max_connections(derive_max_connections(opts.max_connections, opts.reserved_descriptors)),
        out(loop, threads <= 1),
        budget(opts.max_inflight_bytes),
        acceptor(io) {}

  /// `handler`, run on the control strand: the acceptor, the sweeper and the accept backoff are
  /// touched by their handlers and by stop()'s closer, which may otherwise run at once on two
  /// loop threads.
  template <class Handler>
  auto on_control(Handler handler) {
    return asio::bind_executor(control, std::move(handler));
  }

  void accept() {
    // One loop thread needs no strand per socket (each costs ~130 bytes per connection).
    const auto executor =
        threads > 1 ? asio::any_io_executor(asio::make_strand(io)) : io.get_executor();
    acceptor.async_accept(
        executor,
        on_control([this, self = shared_from_this()](std::error_code ec, tcp::socket socket) {
          if (closing) return;  // a completion queued before stop() closed the acceptor
          if (ec) {
            if (ec == asio::error::operation_aborted) return;
            if (!resource_exhausted(ec)) return accept();  // e.g. the peer gave up: next one
            // Out of descriptors: retrying at once spins a core and starves storage of files.
            if (accept_backoffs.fetch_add(1, std::memory_order_relaxed) % 100 == 0) {
              log::error("accept_failed",
                         {{"detail", ec.message()},
                          {"pause_ms", std::to_string(opts.accept_backoff.count())}});
            }
            backoff.expires_after(opts.accept_backoff);
            backoff.async_wait(on_control([this, self = shared_from_this()](std::error_code e) {
              if (!e && !closing) accept();
            }));
            return;
          }
          if (open.load(std::memory_order_relaxed) >= max_connections) {
            refuse(std::move(socket));
            return accept();
          }
          std::error_code ignored;  // latency matters more than packet count; failure is harmless
          socket.set_option(tcp::no_delay(true), ignored);
          auto session =
              std::make_shared<tcp_session>(std::move(socket), ctx, [this](tcp_session* s) {
                open.fetch_sub(1, std::memory_order_relaxed);
                std::lock_guard<std::mutex> guard(mu);
                sessions.erase(s);
              });
          open.fetch_add(1, std::memory_order_relaxed);
          {
            std::lock_guard<std::mutex> guard(mu);
            sessions.emplace(session.get(), session);
          }
          const std::uint64_t id = next_id++;
          session->start(hubs[id % hubs.size()], id);
          accept();
        }));
  }

  /// Tells a socket over the connection cap why, best effort (one non-blocking write of a
  /// small frame into an empty socket buffer), and closes it.
  void refuse(tcp::socket socket) {
    refused_full.fetch_add(1, std::memory_order_relaxed);
    std::error_code ignored;  // the client may be gone; it learns nothing more either way
    socket.non_blocking(true, ignored);
    if (!tls && !opts.websocket) {  // a TLS or WebSocket client could not read a plain frame
      socket.write_some(
          asio::buffer(full_frame->data(), full_frame->size() * sizeof(std::uint64_t)), ignored);
    }
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  /// Checks every connection's deadlines, a few times per timeout.
  void sweep() {
    sweeper.expires_after(sweep_period());
    sweeper.async_wait(on_control([this, self = shared_from_this()](std::error_code ec) {
      if (ec || closing) return;  // cancelled, or expired just before stop() cancelled it
      const auto now = clock::now();
      {
        std::lock_guard<std::mutex> guard(mu);
        for (auto& [ptr, weak] : sessions) {
          if (auto session = weak.lock()) session->check_deadlines(now, svc.options);
        }
      }
      sweep();
    }));
  }

  clock::duration sweep_period() const {
    const auto& o = svc.options;
    const auto shortest = std::min({o.login_timeout, o.heartbeat_timeout, o.frame_timeout,
                                    opts.close_grace, std::chrono::milliseconds(4000)});
    return std::max<clock::duration>(shortest / 4, std::chrono::milliseconds(10));
  }

  actors::services& svc;
  gateway_options opts;
  asio::io_context& io;
  const std::size_t threads;  // running the loop
  const std::size_t max_connections;
  outbox out;
  inflight_budget budget;
  std::atomic<std::uint64_t> paused_reads{0};
  std::atomic<std::uint64_t> throttled_reads{0};
  std::atomic<std::size_t> live_sessions{0};
  std::optional<schema::tls_context> tls;
  const std::optional<ws_settings> ws =
      opts.websocket ? std::optional<ws_settings>(ws_settings{opts.websocket_origins})
                     : std::nullopt;
  session_context ctx{svc,          opts,   tls,          ws ? &*ws : nullptr,
                      out,          budget, paused_reads, throttled_reads,
                      live_sessions};
  const schema::shared_frame full_frame = actors::encode_error(
      {errc::unavailable, "the server is at its connection limit; retry later"});
  asio::strand<asio::io_context::executor_type> control{asio::make_strand(io)};
  bool closing = false;  // stop() closed the acceptor (control strand only)
  asio::steady_timer sweeper{io};
  asio::steady_timer backoff{io};
  tcp::acceptor acceptor;
  mutable std::mutex mu;
  std::unordered_map<tcp_session*, std::weak_ptr<tcp_session>> sessions;
  std::atomic<std::size_t> open{0};
  std::atomic<std::uint64_t> refused_full{0};
  std::atomic<std::uint64_t> accept_backoffs{0};
  std::vector<caf::actor> hubs;
  std::uint64_t next_id = 1;  // accept handlers never run concurrently
  std::uint16_t port = 0;     // bound by start()
  bool stopped = false;
};

gateway::gateway(actors::services& svc, gateway_options opts, runtime::event_loop& loop)
    : impl_(std::make_shared<impl>(svc, std::move(opts), loop)) {}

gateway::~gateway() {
  stop();
}

result<std::uint16_t> gateway::start() {
  auto& i = *impl_;
  if (i.opts.tls_cert_file.empty() != i.opts.tls_key_file.empty()) {
    return {node_errc::bad_config, "TLS on the client port needs both a certificate and a key"};
  }
  if (!i.opts.tls_cert_file.empty()) {
    auto ctx = schema::tls_context::server(i.opts.tls_cert_file, i.opts.tls_key_file);
    if (!ctx) return ctx.error();
    i.tls = std::move(*ctx);
  }
  std::error_code ec;
  auto address = asio::ip::make_address(i.opts.host, ec);
  if (ec) {
    return {node_errc::bad_config, "invalid listen address '" + i.opts.host + "': " + ec.message()};
  }
  tcp::endpoint endpoint(address, i.opts.port);
  i.acceptor.open(endpoint.protocol(), ec);
  if (!ec) i.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(endpoint, ec);
  if (!ec) i.acceptor.listen(i.opts.backlog, ec);
  if (ec) {
    return {node_errc::cannot_listen, "cannot listen on " + i.opts.host + ":" +
                                          std::to_string(i.opts.port) + ": " + ec.message()};
  }
  const std::uint16_t port = i.acceptor.local_endpoint().port();
  i.port = port;
  for (std::size_t n = 0; n < std::max<std::size_t>(1, i.opts.hubs); ++n) {
    i.hubs.push_back(actors::spawn_connection_hub(i.svc));
  }
  i.out.owned_by(impl_);
  // Started on the control strand: a handler of the acceptor or the sweeper may then run at once.
  asio::post(i.control, [self = impl_] {
    self->accept();
    self->sweep();
  });
  return port;
}

void gateway::stop() {
  auto& i = *impl_;
  if (i.stopped) return;
  i.stopped = true;
  asio::post(i.control, [self = impl_] {
    self->closing = true;
    std::error_code ignored;  // closing a listener cannot fail in a way we could handle
    self->acceptor.close(ignored);
    self->sweeper.cancel();
    self->backoff.cancel();
  });
  // Tell every client why before closing: each hub queues Kicked(serverShutdown) and a close
  // on each of its connections, the loop writes them, and the sockets close as their queues
  // empty. Clients that do not read are cut after stop_grace.
  {
    caf::scoped_actor self{*i.svc.system};
    for (auto& hub : i.hubs) {
      self->request(hub, std::chrono::seconds(1), actors::stopping_atom::value)
          .receive([] {}, [](caf::error&) {});
    }
  }
  // The waits below poll the loop's work (its threads are not ours to join).
  const auto poll = [] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); };
  const auto deadline = clock::now() + i.opts.stop_grace;
  while (i.open.load(std::memory_order_relaxed) > 0 && clock::now() < deadline) poll();
  std::vector<std::shared_ptr<tcp_session>> live;
  {
    std::lock_guard<std::mutex> guard(i.mu);
    for (auto& [ptr, weak] : i.sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->abort();
  live.clear();
  // Every socket reports closed_atom to its hub before it counts as closed; then the hubs may
  // go, and with them the last references to the sessions (outbox entries go as they drain).
  const auto aborted = clock::now();
  while (i.open.load(std::memory_order_relaxed) > 0 &&
         clock::now() - aborted < std::chrono::seconds(2)) {
    poll();
  }
  for (auto& hub : i.hubs) caf::anon_send(hub, actors::shutdown_atom::value);
  i.hubs.clear();
  auto waited = clock::now();
  while (i.live_sessions.load(std::memory_order_acquire) > 0) {
    poll();
    if (clock::now() - waited > std::chrono::seconds(5)) {
      log::warn("gateway_stop_waiting",
                {{"sessions", std::to_string(i.live_sessions.load(std::memory_order_relaxed))}});
      waited = clock::now();
    }
  }
}

std::uint16_t gateway::port() const {
  return impl_->port;
}

gateway_stats gateway::stats() const {
  const auto& i = *impl_;
  gateway_stats s;
  s.open = i.open.load(std::memory_order_relaxed);
  s.refused_full = i.refused_full.load(std::memory_order_relaxed);
  s.accept_backoffs = i.accept_backoffs.load(std::memory_order_relaxed);
  s.paused_reads = i.paused_reads.load(std::memory_order_relaxed);
  s.throttled_reads = i.throttled_reads.load(std::memory_order_relaxed);
  s.inflight_bytes = i.budget.bytes();
  s.max_connections = i.max_connections;
  return s;
}

}  // namespace parley::server
