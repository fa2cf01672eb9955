// tcp_floor: what the kernel alone costs for Parley's 1:1 traffic pattern on this machine.
//
// A relay with no engine in it: for every frame a client sends, the server writes an ack back
// on the same connection and forwards the frame to the peer connection, one write() each, as
// Parley does when each socket has one frame to send (1:1 traffic over many connections). No
// storage, no actors, no allocation per frame. Its server CPU per message is the floor that
// any engine on loopback TCP pays for this pattern here, so it tells which part of a server
// CPU-per-message figure (bench/probe cpu) the engine can still change. Run by
// `bench/probe tcp-floor RATE`; see docs/benchmarks.md.
//
// With --store DIR the relay also does, before its ack, exactly the store work of a 1:1 send
// in Parley (actors/conversation): a read of the dedupe key, then one unsynced write of the
// message, the sender's read cursor, the dedupe record and a shard event, into a Parley store
// of 64 shards (a pair of connections is one conversation). That is the floor of any engine
// that keeps every message in RocksDB before its ack, as Parley's design does, with no actors,
// no decoding and no routing: `bench/probe tcp-floor RATE REPS store`.
//
//   tcp_floor server PORT [--store DIR]
//   tcp_floor client PORT CONNECTIONS RATE SECONDS      prints one JSON line
//
// Wire: frames of a 4-byte little-endian length and a payload. A payload starts with the
// 4-byte id of the connection it is for; a connection's first frame is a hello whose id is
// its own. The client pairs connection 2k with 2k+1.
#include "parley/store/keys.hpp"
#include "parley/store/store.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr std::uint32_t hello_bit = 0x80000000u;
constexpr std::size_t send_bytes = 120;  // about a Parley send frame with a short text
constexpr std::size_t ack_bytes = 40;    // about a Parley ack frame
// With --store: the sizes of the records Parley writes for such a message (read from its WAL).
constexpr std::size_t message_bytes = 200;  // the stored message
constexpr std::size_t event_bytes = 136;    // its event in the shard's event log

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

std::uint32_t load32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void store32(std::uint8_t* p, std::uint32_t v) {
  std::memcpy(p, &v, 4);
}

void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/// Writes all of `n` bytes (the sockets are blocking for writes; reads use MSG_DONTWAIT).
void write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) die("send");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

/// The bytes of one connection that do not yet make a whole frame.
struct splitter {
  std::vector<std::uint8_t> partial;

  /// Calls `frame(payload, size)` for every whole frame in `partial` + `data`.
  template <class Fn>
  void feed(const std::uint8_t* data, std::size_t n, Fn&& frame) {
    const std::uint8_t* p = data;
    std::size_t left = n;
    if (!partial.empty()) {
      partial.insert(partial.end(), data, data + n);
      p = partial.data();
      left = partial.size();
    }
    std::size_t used = 0;
    while (left - used >= 4) {
      const std::uint32_t len = load32(p + used);
      if (left - used - 4 < len) break;
      frame(p + used + 4, len);
      used += 4 + len;
    }
    std::vector<std::uint8_t> rest(p + used, p + left);
    partial.swap(rest);
  }
};

/// What a pair's conversation writes per message when the relay has a store (see the top).
class conversation_writes {
 public:
  explicit conversation_writes(parley::store::store& db) : db_(db), shards_(db.shard_count()) {}

  /// The store work of one message from connection `from`; exits on a store error.
  void message_from(std::uint32_t from) {
    const std::uint32_t pair = from / 2;
    if (last_seq_.size() <= pair) last_seq_.resize(pair + 1, 0);
    if (client_ids_.size() <= from) client_ids_.resize(from + 1, 0);
    const std::uint64_t seq = ++last_seq_[pair];
    const std::uint32_t shard = pair % shards_;
    const std::string conversation =
        "d:user" + std::to_string(pair * 2) + ":user" + std::to_string(pair * 2 + 1);
    const std::string sender = "user" + std::to_string(from);
    namespace ps = parley::store;
    const std::string dedupe_key =
        ps::named_key(conversation, ps::record::dedupe,
                      sender + '\0' + "phone" + '\0' + "m-" + std::to_string(++client_ids_[from]));
    auto known = db_.get(shard, dedupe_key);
    if (!known) fail("get");
    ps::write_batch batch;
    batch.put(shard, ps::seq_key(conversation, ps::record::message, seq),
              std::string(message_bytes, 'm'));
    batch.put(shard, ps::named_key(conversation, ps::record::read_cursor, sender),
              ps::encode_u64(seq));
    batch.put(shard, dedupe_key, ps::encode_u64(seq) + ps::encode_u64(seq));
    batch.event(shard, std::string(event_bytes, 'e'));
    if (auto err = db_.write(batch, ps::durability::buffered); !err.ok()) fail("write");
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "store %s failed\n", what);
    std::exit(1);
  }

  parley::store::store& db_;
  const std::uint32_t shards_;
  std::vector<std::uint64_t> last_seq_;    // by pair
  std::vector<std::uint64_t> client_ids_;  // by sender: its last client message id
};

int serve(int port, conversation_writes* writes) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (::listen(lfd, 4096) != 0) die("listen");
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::printf("listening\n");
  std::fflush(stdout);

  std::vector<int> fd_of_id;                 // connection id -> fd
  std::vector<std::uint32_t> id_of_fd;       // fd -> connection id
  std::vector<splitter> in;                  // by fd
  std::vector<std::uint8_t> buf(64 * 1024);  // one read per readiness, as Parley's gateway
  std::uint8_t ack[4 + ack_bytes] = {};
  store32(ack, ack_bytes);
  epoll_event events[256];
  for (;;) {
    const int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        const int c = ::accept(lfd, nullptr, nullptr);
        if (c < 0) continue;
        no_delay(c);
        if (static_cast<std::size_t>(c) >= in.size()) in.resize(static_cast<std::size_t>(c) + 1);
        epoll_event cev{};
        cev.events = EPOLLIN;
        cev.data.fd = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        continue;
      }
      const ssize_t r = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (r <= 0) {
        if (r == 0) {
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
          ::close(fd);
          in[fd].partial.clear();
        }
        continue;
      }
      in[fd].feed(buf.data(), static_cast<std::size_t>(r),
                  [&](const std::uint8_t* payload, std::size_t len) {
                    if (len < 4) return;
                    const std::uint32_t id = load32(payload);
                    if (id & hello_bit) {
                      const std::uint32_t own = id & ~hello_bit;
                      if (fd_of_id.size() <= own) fd_of_id.resize(own + 1, -1);
                      fd_of_id[own] = fd;
                      if (id_of_fd.size() <= static_cast<std::size_t>(fd)) {
                        id_of_fd.resize(static_cast<std::size_t>(fd) + 1, 0);
                      }
                      id_of_fd[fd] = own;
                      return;
                    }
                    if (writes) writes->message_from(id_of_fd[fd]);
                    write_all(fd, ack, sizeof ack);
                    if (id < fd_of_id.size() && fd_of_id[id] >= 0) {
                      write_all(fd_of_id[id], payload - 4, len + 4);
                    }
                  });
    }
  }
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
  no_delay(fd);
  return fd;
}

int run_client(int port, std::size_t connections, double rate, double seconds) {
  using clock = std::chrono::steady_clock;
  connections &= ~std::size_t{1};
  std::vector<int> fds;
  const int ep = epoll_create1(0);
  for (std::size_t i = 0; i < connections; ++i) {
    const int fd = connect_to(port);
    std::uint8_t hello[8];
    store32(hello, 4);
    store32(hello + 4, static_cast<std::uint32_t>(i) | hello_bit);
    write_all(fd, hello, sizeof hello);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
  }
  std::vector<splitter> in(connections);
  std::vector<std::uint8_t> buf(64 * 1024);
  std::vector<double> latencies_us;
  std::uint64_t sent = 0, acks = 0, pushes = 0;
  std::uint8_t frame[4 + send_bytes] = {};
  store32(frame, send_bytes);

  const auto start = clock::now() + std::chrono::milliseconds(200);  // hellos first
  const auto end_sending = start + std::chrono::duration<double>(seconds);
  const auto end = end_sending + std::chrono::seconds(1);  // drain
  std::size_t next_sender = 0;
  epoll_event events[256];
  for (auto now = clock::now(); now < end; now = clock::now()) {
    if (now >= start && now < end_sending) {
      const double due = std::chrono::duration<double>(now - start).count() * rate;
      while (static_cast<double>(sent) < due) {
        const std::size_t from = next_sender;
        next_sender = (next_sender + 1) % connections;
        store32(frame + 4, static_cast<std::uint32_t>(from ^ 1));
        const auto stamp = clock::now().time_since_epoch().count();
        std::memcpy(frame + 8, &stamp, sizeof stamp);
        write_all(fds[from], frame, sizeof frame);
        ++sent;
      }
    }
    const int n = epoll_wait(ep, events, 256, 1);
    for (int i = 0; i < n; ++i) {
      const std::size_t c = events[i].data.u64;
      const ssize_t r = ::recv(fds[c], buf.data(), buf.size(), MSG_DONTWAIT);
      if (r <= 0) continue;
      in[c].feed(buf.data(), static_cast<std::size_t>(r),
                 [&](const std::uint8_t* payload, std::size_t len) {
                   if (len == ack_bytes) {
                     ++acks;
                     return;
                   }
                   ++pushes;
                   decltype(clock::now().time_since_epoch().count()) stamp;
                   std::memcpy(&stamp, payload + 4, sizeof stamp);
                   const auto age = clock::now().time_since_epoch().count() - stamp;
                   latencies_us.push_back(static_cast<double>(age) / 1000.0);
                 });
    }
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double q) {
    return latencies_us.empty()
               ? 0.0
               : latencies_us[static_cast<std::size_t>(q * (latencies_us.size() - 1))];
  };
  // The load generator's field names, so that bench/probe reads both alike.
  std::printf(
      "{\"sent\": %llu, \"expected\": %llu, \"delivered\": %llu, \"acks\": %llu, "
      "\"delivery_p50_us\": %.0f, \"delivery_p99_us\": %.0f}\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(pushes), static_cast<unsigned long long>(acks), pct(0.5),
      pct(0.99));
  for (int fd : fds) ::close(fd);
  return acks == sent && pushes == sent ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "server") return serve(std::atoi(argv[2]), nullptr);
  if (argc == 5 && std::string(argv[1]) == "server" && std::string(argv[3]) == "--store") {
    parley::store::options opts;
    opts.dir = argv[4];
    auto db = parley::store::store::open(opts);
    if (!db) {
      std::fprintf(stderr, "cannot open the store\n");
      return 1;
    }
    conversation_writes writes(**db);
    return serve(std::atoi(argv[2]), &writes);
  }
  if (argc == 6 && std::string(argv[1]) == "client") {
    return run_client(std::atoi(argv[2]), std::strtoul(argv[3], nullptr, 10), std::atof(argv[4]),
                      std::atof(argv[5]));
  }
  std::fprintf(stderr,
               "usage: tcp_floor server PORT [--store DIR] | tcp_floor client PORT CONNECTIONS "
               "RATE SECONDS\n");
  return 2;
}
