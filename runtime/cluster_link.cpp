#include "parley/runtime/cluster_link.hpp"

#include "parley/runtime/cluster_errc.hpp"

#include "parley/schema/tls.hpp"

#include <asio.hpp>

#include <atomic>
#include <future>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace parley::runtime {

namespace {

using asio::ip::tcp;
using local_socket = asio::local::stream_protocol::socket;

/// Bytes read from one side at a time (the most a tunnel buffers per direction, plus what the
/// TLS engine holds, at most 64 KiB of ciphertext).
constexpr std::size_t chunk_bytes = 64 * 1024;
/// Pause after a failed accept (descriptors exhausted): retrying at once would spin a core.
constexpr auto accept_backoff = std::chrono::milliseconds(100);

std::string describe(const tcp::endpoint& e) {
  return e.address().to_string() + ":" + std::to_string(e.port());
}

/// One TCP connection to or from a peer node and the socket pair that carries its plaintext.
/// Lives on the link's thread; kept alive by its pending operations.
class tunnel : public std::enable_shared_from_this<tunnel> {
 public:
  /// What it reports to the link, all on the link's thread.
  struct owner {
    virtual ~owner() = default;
    virtual void established(tunnel& t, int fd) = 0;
    virtual void refused(tunnel& t, const std::string& why) = 0;
    virtual void ended(tunnel& t) = 0;
  };

  tunnel(tcp::socket net, schema::tls_engine tls, std::string peer, owner& o)
      : net_(std::move(net)),
        local_(net_.get_executor()),
        deadline_(net_.get_executor()),
        tls_(std::move(tls)),
        peer_(std::move(peer)),
        owner_(o) {}

  const std::string& peer() const { return peer_; }

  /// Starts the handshake (the client speaks first) with its deadline.
  void start(std::chrono::milliseconds timeout, bool client) {
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->established_ || self->closed_) return;
      self->refuse("no TLS handshake within the timeout");
    });
    if (client) {
      if (tls_.handshake() == schema::tls_engine::status::failed) {
        refuse(tls_.failure());
        return;
      }
      flush_net();
    }
    read_net();
  }

  /// Closes both sides (idempotent).
  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ignored;
    deadline_.cancel();
    net_.close(ignored);
    local_.close(ignored);
    owner_.ended(*this);
  }

 private:
  void refuse(const std::string& why) {
    if (closed_) return;
    owner_.refused(*this, why);
    close();
  }

  /// Ciphertext from the peer: decrypt it and hand the plaintext to CAF, then read on.
  void read_net() {
    net_.async_read_some(asio::buffer(net_in_),
                         [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                           if (self->closed_) return;
                           if (ec) {
                             if (!self->established_)
                               self->refuse("the connection closed during the TLS handshake");
                             self->close();
                             return;
                           }
                           self->tls_.feed(self->net_in_.data(), n);
                           self->decrypt();
                         });
  }

  void decrypt() {
    std::uint8_t plain[16 * 1024];
    for (;;) {
      const auto r = tls_.read(plain, sizeof plain);
      if (r.st == schema::tls_engine::status::ok) {
        to_local_.insert(to_local_.end(), plain, plain + r.n);
        continue;
      }
      flush_net();  // handshake flights and alerts
      if (r.st == schema::tls_engine::status::need_input) break;
      if (!established_) refuse(tls_.failure());
      close();  // failed, or the peer closed its session
      return;
    }
    if (!established_ && tls_.handshake_done() && !establish()) return;
    if (to_local_.empty()) {
      read_net();
      return;
    }
    asio::async_write(local_, asio::buffer(to_local_),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->close();
                        self->to_local_.clear();
                        self->read_net();
                      });
  }

  /// The handshake is done and the peer's certificate checked: make the socket pair, give
  /// one end away and start carrying the plaintext CAF writes to the other.
  bool establish() {
    established_ = true;
    deadline_.cancel();
    local_socket theirs(net_.get_executor());
    asio::error_code ec;
    asio::local::connect_pair(local_, theirs, ec);
    if (ec) {
      owner_.refused(*this, "cannot make a socket pair: " + ec.message());
      close();
      return false;
    }
    owner_.established(*this, theirs.release());
    read_local();
    return true;
  }

  /// Plaintext from CAF: encrypt it (as much as the engine's output bound lets it take at
  /// once), then read on once all of it is taken.
  void read_local() {
    local_.async_read_some(asio::buffer(local_in_), [self = shared_from_this()](
                                                        const asio::error_code& ec, std::size_t n) {
      if (self->closed_) return;
      if (ec) {  // CAF closed the connection: say goodbye to the peer, then close
        self->tls_.close();
        self->closing_ = true;
        self->flush_net();
        return;
      }
      self->plain_begin_ = 0;
      self->plain_end_ = n;
      self->encrypt();
    });
  }

  void encrypt() {
    while (plain_begin_ < plain_end_) {
      const std::size_t taken =
          tls_.write(local_in_.data() + plain_begin_, plain_end_ - plain_begin_);
      if (taken == 0) break;
      plain_begin_ += taken;
    }
    if (tls_.failed()) return close();
    flush_net();
    if (plain_begin_ == plain_end_) read_local();
    // Otherwise the engine's output is full: flush_net's completion calls encrypt() again.
  }

  /// Writes the engine's ciphertext to the peer, one write at a time.
  void flush_net() {
    if (net_writing_ || closed_) return;
    if (tls_.output_size() == 0) {
      if (closing_) close();
      return;
    }
    // Copied out: the engine's buffer may move when it produces more.
    to_net_.assign(tls_.output_data(), tls_.output_data() + tls_.output_size());
    tls_.consume_output(to_net_.size());
    net_writing_ = true;
    asio::async_write(net_, asio::buffer(to_net_),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        self->net_writing_ = false;
                        if (self->closed_) return;
                        if (ec) return self->close();
                        if (self->plain_begin_ < self->plain_end_) {
                          self->encrypt();
                        } else {
                          self->flush_net();
                        }
                      });
  }

  tcp::socket net_;
  local_socket local_;
  asio::steady_timer deadline_;
  schema::tls_engine tls_;
  std::string peer_;
  owner& owner_;
  std::vector<std::uint8_t> net_in_ = std::vector<std::uint8_t>(chunk_bytes);
  std::vector<std::uint8_t> local_in_ = std::vector<std::uint8_t>(chunk_bytes);
  std::size_t plain_begin_ = 0, plain_end_ = 0;  // local_in_ not yet taken by the engine
  std::vector<std::uint8_t> to_local_;           // plaintext being written to CAF
  std::vector<std::uint8_t> to_net_;             // ciphertext being written to the peer
  bool established_ = false, closed_ = false, closing_ = false, net_writing_ = false;
};

}  // namespace

struct cluster_link::impl final : tunnel::owner {
  impl(const cluster_link_options& o, schema::tls_context server, schema::tls_context client,
       peer_handler p, refusal_handler r)
      : options(o),
        server_tls(std::move(server)),
        client_tls(std::move(client)),
        on_peer(std::move(p)),
        on_refused(std::move(r)),
        acceptor(io),
        backoff(io),
        work(asio::make_work_guard(io)) {}

  cluster_link_options options;
  schema::tls_context server_tls, client_tls;
  peer_handler on_peer;
  refusal_handler on_refused;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  std::atomic<std::uint64_t> refusals{0};

  // The link's thread only:
  std::unordered_map<tunnel*, std::shared_ptr<tunnel>> tunnels;  // every open one
  std::unordered_set<tunnel*> handshaking;                       // inbound ones not yet established
  bool stopping = false;
  /// The dials waiting for their handshake, by tunnel.
  std::unordered_map<tunnel*, std::promise<result<int>>> dials;

  void accept() {
    acceptor.async_accept([this](const asio::error_code& ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {  // e.g. no descriptors left: try again later
        backoff.expires_after(accept_backoff);
        backoff.async_wait([this](const asio::error_code& e) {
          if (!e) accept();
        });
        return;
      }
      asio::error_code ignored;
      const auto peer = s.remote_endpoint(ignored);
      const std::string who = ignored ? "unknown peer" : describe(peer);
      if (handshaking.size() >= options.max_handshakes) {
        report(who, "too many TLS handshakes in progress");
        s.close(ignored);
      } else {
        s.set_option(tcp::no_delay(true), ignored);
        auto t = std::make_shared<tunnel>(std::move(s), schema::tls_engine(server_tls), who, *this);
        tunnels.emplace(t.get(), t);
        handshaking.insert(t.get());
        t->start(options.handshake_timeout, false);
      }
      accept();
    });
  }

  void report(const std::string& who, const std::string& why) {
    ++refusals;
    if (on_refused) on_refused(who, why);
  }

  void established(tunnel& t, int fd) override {
    if (auto it = dials.find(&t); it != dials.end()) {
      it->second.set_value(fd);
      dials.erase(it);
      return;
    }
    handshaking.erase(&t);
    on_peer(fd);
  }

  void refused(tunnel& t, const std::string& why) override {
    report(t.peer(), why);
    if (auto it = dials.find(&t); it != dials.end()) {
      it->second.set_value(error(cluster_errc::peer_unreachable,
                                 "the TLS handshake with " + t.peer() + " failed: " + why));
      dials.erase(it);
    }
  }

  void ended(tunnel& t) override {
    if (auto it = dials.find(&t); it != dials.end()) {
      it->second.set_value(
          error(cluster_errc::peer_unreachable, "the connection to " + t.peer() + " closed"));
      dials.erase(it);
    }
    handshaking.erase(&t);
    tunnels.erase(&t);  // the tunnel lives on while its handlers hold it
  }

  void stop() {
    asio::post(io, [this] {
      stopping = true;
      asio::error_code ignored;
      acceptor.close(ignored);
      backoff.cancel();
      auto open = tunnels;  // close() edits the table
      for (auto& [raw, t] : open) t->close();
    });
    work.reset();
    if (thread.joinable()) thread.join();
  }
};

result<std::unique_ptr<cluster_link>> cluster_link::start(const cluster_link_options& options,
                                                          peer_handler on_peer,
                                                          refusal_handler on_refused) {
  const auto& id = options.tls;
  if (!id.configured()) {
    return {cluster_errc::bad_config, "the cluster port needs a CA, a certificate and a key"};
  }
  auto server = schema::tls_context::mutual(true, id.ca_file, id.cert_file, id.key_file);
  if (!server) return server.error();
  auto client = schema::tls_context::mutual(false, id.ca_file, id.cert_file, id.key_file);
  if (!client) return client.error();
  auto p = std::make_unique<impl>(options, std::move(*server), std::move(*client),
                                  std::move(on_peer), std::move(on_refused));
  asio::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) {
    return {cluster_errc::bad_config,
            "the cluster address " + options.host + " is not an IP address"};
  }
  const tcp::endpoint at(address, options.port);
  p->acceptor.open(at.protocol(), ec);
  if (!ec) p->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) p->acceptor.bind(at, ec);
  if (!ec) p->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return {cluster_errc::cannot_listen, "cannot listen on " + describe(at) + ": " + ec.message()};
  p->accept();
  auto* raw = p.get();
  p->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<cluster_link>(new cluster_link(std::move(p)));
}

cluster_link::cluster_link(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

cluster_link::~cluster_link() {
  impl_->stop();
}

std::uint16_t cluster_link::port() const {
  asio::error_code ignored;
  return impl_->acceptor.local_endpoint(ignored).port();
}

std::uint64_t cluster_link::refused() const {
  return impl_->refusals.load();
}

result<int> cluster_link::dial(const std::string& host, std::uint16_t port) {
  auto& i = *impl_;
  asio::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec)
    return {cluster_errc::bad_config, "the cluster address " + host + " is not an IP address"};
  const tcp::endpoint at(address, port);
  std::promise<result<int>> promise;
  auto dialled = promise.get_future();
  asio::post(i.io, [&i, at, promise = std::move(promise)]() mutable {
    auto s = std::make_shared<tcp::socket>(i.io);
    // The connect and the handshake share one deadline (the tunnel's, once it exists).
    auto timer = std::make_shared<asio::steady_timer>(i.io, i.options.handshake_timeout);
    auto waiting = std::make_shared<std::promise<result<int>>>(std::move(promise));
    timer->async_wait([s](const asio::error_code& e) {
      asio::error_code ignored;
      if (!e) s->close(ignored);
    });
    s->async_connect(at, [&i, s, at, timer, waiting](const asio::error_code& e) {
      timer->cancel();
      if (i.stopping) {
        waiting->set_value(error(cluster_errc::peer_unreachable, "the node is stopping"));
        return;
      }
      if (e) {
        waiting->set_value(error(cluster_errc::peer_unreachable,
                                 "cannot connect to " + describe(at) + ": " + e.message()));
        return;
      }
      asio::error_code ignored;
      s->set_option(tcp::no_delay(true), ignored);
      auto t = std::make_shared<tunnel>(std::move(*s), schema::tls_engine(i.client_tls),
                                        describe(at), i);
      i.tunnels.emplace(t.get(), t);
      i.dials.emplace(t.get(), std::move(*waiting));
      t->start(i.options.handshake_timeout, true);
    });
  });
  // The connect timer and then the tunnel's deadline end every dial, and stop() lets them.
  return dialled.get();
}

}  // namespace parley::runtime
