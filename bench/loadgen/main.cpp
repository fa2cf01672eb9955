// parley-loadgen: open-loop load for Parley (and, for comparison, XMPP servers such as
// ejabberd). One process drives thousands of connections on one Asio thread; a driver script
// (bench/run) spreads processes over cores and source addresses and merges their histograms.
//
// Latency is measured from the *intended* send time of each message (open loop: the schedule
// does not wait for the server), so a stalled server shows up as latency, not as a lower rate.
// Histograms are written as one-line text files and merged with `loadgen merge`.

#include "drivers.hpp"
#include "histogram.hpp"

#include "parley/client/client.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/ids.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <sys/resource.h>

namespace parley::bench {

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
}

struct options {
  std::string protocol = "parley";
  endpoint_spec ep;
  std::string sources;  // comma-separated bind addresses, round-robin
  std::string secret_file = "./parley-data/secret";
  std::string domain = "localhost";
  std::string password = "secret";
  std::string workload = "pairs";
  std::size_t connections = 100;
  std::size_t first_user = 0;
  std::string user_prefix = "u";
  std::size_t groups = 1;
  std::size_t members = 100;
  double rate = 1000;
  double duration = 10;
  double warmup = 2;
  double drain = 5;
  double hold = 5;
  std::size_t count = 1000;
  std::size_t concurrency = 256;
  std::string hist_prefix;
  std::string slow_log;  // open-loop runs: a file of the deliveries slower than slow_us
  std::uint64_t slow_us = 3000;
  std::string register_for = "pairs";
  std::size_t body_bytes = 32768;  // flood: size of each flooding send
  std::size_t flood = 20000;       // flood: sends the flooder pipelines
  double bystander_rate = 250;     // flood: the bystander's sends per second, at most
};

/// Everything one run shares: the io_context, the connections, the counters.
class run {
 public:
  explicit run(options o) : o_(std::move(o)) {
    std::stringstream ss(o_.sources);
    for (std::string s; std::getline(ss, s, ',');) {
      if (!s.empty()) sources_.push_back(s);
    }
    if (o_.protocol == "parley") {
      auto secret = runtime::load_secret(o_.secret_file);
      if (!secret) throw std::runtime_error(secret.error().message());
      tokens_ = std::make_unique<runtime::token_authority>(*secret);
    }
  }

  int execute() {
    if (o_.workload == "idle") return idle();
    if (o_.workload == "pairs") return pairs();
    if (o_.workload == "group") return group();
    if (o_.workload == "latency") return latency();
    if (o_.workload == "flood") return flood();
    if (o_.workload == "register") return register_users();
    if (o_.workload == "recovery-send") return recovery_send();
    if (o_.workload == "recovery-check") return recovery_check();
    std::cerr << "loadgen: unknown workload " << o_.workload << "\n";
    return 2;
  }

 private:
  std::string user(std::size_t i) const {
    return o_.user_prefix + std::to_string(o_.first_user + i);
  }

  /// Member j of group g.
  std::string member(std::size_t g, std::size_t j) const {
    return o_.user_prefix + "g" + std::to_string(g) + "m" + std::to_string(j);
  }

  /// The users a workload logs in as (pairs and idle: numbered; group: per group and member).
  std::vector<std::string> users_for(const std::string& workload) const {
    std::vector<std::string> users;
    if (workload == "group") {
      for (std::size_t g = 0; g < o_.groups; ++g) {
        for (std::size_t j = 0; j < o_.members; ++j) users.push_back(member(g, j));
      }
    } else {
      for (std::size_t i = 0; i < o_.connections; ++i) users.push_back(user(i));
    }
    return users;
  }

  std::shared_ptr<chat_conn> make() {
    return o_.protocol == "parley" ? make_parley_conn(io_) : make_xmpp_conn(io_, o_.domain);
  }

  endpoint_spec endpoint_for(std::size_t i) const {
    endpoint_spec ep = o_.ep;
    if (!sources_.empty()) ep.bind_address = sources_[i % sources_.size()];
    return ep;
  }

  std::string credential(const std::string& u) const {
    return tokens_ ? tokens_->issue(u, std::chrono::hours(24)) : o_.password;
  }

  /// Opens and logs in `users`, at most o_.concurrency at a time; runs io until done.
  bool open_all(const std::vector<std::string>& users) {
    conns_.resize(users.size());
    std::size_t next = 0, done = 0, failed = 0, in_flight = 0;
    std::function<void()> pump = [&] {
      while (in_flight < o_.concurrency && next < users.size()) {
        const std::size_t i = next++;
        ++in_flight;
        conns_[i] = make();
        conns_[i]->open(endpoint_for(i), users[i], credential(users[i]),
                        [&, i](bool ok, const std::string& error) {
                          --in_flight;
                          ++done;
                          if (!ok && failed++ < 5) {
                            std::cerr << "loadgen: " << users[i] << ": " << error << "\n";
                          }
                          pump();
                        });
      }
    };
    pump();
    while (done < users.size() && io_.run_one()) {
    }
    return failed == 0;
  }

  void run_for(double seconds) {
    io_.restart();
    io_.run_for(
        std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds)));
  }

  /// Body: "<intended ns>:<sender index>".
  static std::string body(std::uint64_t intended, std::size_t sender) {
    return std::to_string(intended) + ":" + std::to_string(sender);
  }

  void count_delivery(const std::string& b, std::size_t receiver) {
    const auto colon = b.find(':');
    if (colon == std::string::npos) return;
    if (std::stoull(b.substr(colon + 1)) == receiver) return;  // a MUC echo of our own message
    const std::uint64_t intended = std::stoull(b.substr(0, colon));
    ++delivered_;
    const std::uint64_t us = (now_ns() - intended) / 1000;
    if (intended >= measure_from_) delivery_.record(us);
    if (!o_.slow_log.empty() && us >= o_.slow_us && intended >= loop_start_ &&
        slow_deliveries_.size() < max_slow_deliveries) {
      slow_deliveries_.push_back({intended - loop_start_, us});
    }
  }

  /// Sends `total` messages at o_.rate, round-robin over `senders`, each through `send`.
  void open_loop(const std::vector<std::size_t>& senders,
                 const std::function<void(std::size_t sender, const std::string& body,
                                          chat_conn::ack_fn)>& send) {
    const std::uint64_t start = now_ns();
    loop_start_ = start;
    const double interval_ns = 1e9 / o_.rate;
    measure_from_ = start + static_cast<std::uint64_t>(o_.warmup * 1e9);
    const std::uint64_t end = start + static_cast<std::uint64_t>(o_.duration * 1e9);
    std::size_t k = 0;
    asio::steady_timer timer(io_);
    std::function<void()> tick = [&] {
      const std::uint64_t now = now_ns();
      while (true) {
        const std::uint64_t intended = start + static_cast<std::uint64_t>(k * interval_ns);
        if (intended > now || intended >= end) break;
        const std::size_t s = senders[k % senders.size()];
        ++k;
        ++sent_;
        send(s, body(intended, s), [this, intended](bool ok) {
          if (!ok) {
            ++ack_errors_;
            return;
          }
          ++acked_;
          if (intended >= measure_from_) ack_.record((now_ns() - intended) / 1000);
        });
      }
      if (now >= end) return;
      timer.expires_after(std::chrono::microseconds(200));
      timer.async_wait([&](std::error_code ec) {
        if (!ec) tick();
      });
    };
    tick();
    io_.restart();
    while (now_ns() < end && io_.run_one()) {
    }
    timer.cancel();
    io_.poll();  // runs the cancelled wait while `tick` still exists
  }

  void drain(std::uint64_t expected) {
    const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                             std::chrono::duration<double>(o_.drain));
    io_.restart();
    while (delivered_ < expected && clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(20));
    }
  }

  /// One line per slow delivery: "<ms from the run's start to its intended send> <latency µs>".
  /// When they come is what tells a stall of the whole machine (many at once, at a period)
  /// from a slow request (bench/bursts.py).
  void write_slow_deliveries() {
    if (o_.slow_log.empty()) return;
    std::ofstream out(o_.slow_log);
    for (const auto& d : slow_deliveries_) out << d.at_ns / 1000000.0 << ' ' << d.us << '\n';
  }

  void write_histograms() {
    if (o_.hist_prefix.empty()) return;
    std::ofstream(o_.hist_prefix + ".ack") << ack_.serialize() << "\n";
    std::ofstream(o_.hist_prefix + ".delivery") << delivery_.serialize() << "\n";
  }

  void report(const std::string& extra, std::uint64_t expected, double seconds) {
    write_histograms();
    write_slow_deliveries();
    std::printf(
        "{\"protocol\":\"%s\",\"workload\":\"%s\",\"sent\":%llu,\"acked\":%llu,"
        "\"ack_errors\":%llu,\"delivered\":%llu,\"expected\":%llu,\"seconds\":%.3f,"
        "\"ack_p50_us\":%llu,\"ack_p99_us\":%llu,\"delivery_p50_us\":%llu,"
        "\"delivery_p99_us\":%llu,\"delivery_p999_us\":%llu,\"delivery_max_us\":%llu%s}\n",
        o_.protocol.c_str(), o_.workload.c_str(), (unsigned long long)sent_,
        (unsigned long long)acked_, (unsigned long long)ack_errors_, (unsigned long long)delivered_,
        (unsigned long long)expected, seconds, (unsigned long long)ack_.quantile(0.5),
        (unsigned long long)ack_.quantile(0.99), (unsigned long long)delivery_.quantile(0.5),
        (unsigned long long)delivery_.quantile(0.99), (unsigned long long)delivery_.quantile(0.999),
        (unsigned long long)delivery_.max(), extra.c_str());
    std::fflush(stdout);
  }

  // -- workloads --------------------------------------------------------------------------------

  int idle() {
    const auto users = users_for("idle");
    const auto t0 = clock::now();
    const bool ok = open_all(users);
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    std::printf(
        "{\"protocol\":\"%s\",\"workload\":\"idle\",\"connections\":%zu,\"ok\":%s,"
        "\"login_seconds\":%.3f,\"login_rate\":%.1f}\n",
        o_.protocol.c_str(), users.size(), ok ? "true" : "false", secs, users.size() / secs);
    std::fflush(stdout);
    run_for(o_.hold);  // hold the connections while the driver measures the server
    return ok ? 0 : 1;
  }

  int pairs() {
    const auto users = users_for("pairs");
    if (!open_all(users)) return 1;
    std::vector<std::size_t> senders;
    for (std::size_t i = 0; i + 1 < users.size(); i += 2) senders.push_back(i);
    for (std::size_t i = 0; i < users.size(); ++i) {
      conns_[i]->on_message([this, i](const std::string& b) { count_delivery(b, i); });
    }
    const auto t0 = clock::now();
    open_loop(senders, [&](std::size_t s, const std::string& b, chat_conn::ack_fn ack) {
      conns_[s]->send_direct(users[s + 1], b, std::move(ack));
    });
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    drain(sent_);
    report("", sent_, secs);
    return 0;
  }

  int group() {
    // Group g has members <prefix>g<g>m<j>; member 0 creates it and sends.
    const auto users = users_for("group");
    if (!open_all(users)) return 1;
    auto group_name = [&](std::size_t g) { return o_.user_prefix + "grp" + std::to_string(g); };
    // Join: creators first, then everybody else.
    std::size_t joined = 0, failed = 0;
    auto join = [&](std::size_t i, bool create) {
      conns_[i]->join_group(group_name(i / o_.members), create,
                            [&](bool ok, const std::string& error) {
                              ++joined;
                              if (!ok && failed++ < 3)
                                std::cerr << "loadgen: join: " << error << "\n";
                            });
    };
    for (std::size_t g = 0; g < o_.groups; ++g) join(g * o_.members, true);
    io_.restart();
    while (joined < o_.groups && io_.run_one()) {
    }
    for (std::size_t i = 0; i < users.size(); ++i) {
      if (i % o_.members != 0) join(i, false);
    }
    io_.restart();
    while (joined < users.size() && io_.run_one()) {
    }
    if (failed) return 1;
    for (std::size_t i = 0; i < users.size(); ++i) {
      conns_[i]->on_message([this, i](const std::string& b) { count_delivery(b, i); });
    }
    std::vector<std::size_t> senders;
    for (std::size_t g = 0; g < o_.groups; ++g) senders.push_back(g * o_.members);
    const auto t0 = clock::now();
    open_loop(senders, [&](std::size_t s, const std::string& b, chat_conn::ack_fn ack) {
      conns_[s]->send_group(group_name(s / o_.members), b, std::move(ack));
    });
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    const std::uint64_t expected = sent_ * (o_.members - 1);
    drain(expected);
    report(",\"deliveries_per_s\":" + std::to_string(delivered_ / (secs > 0 ? secs : 1)), expected,
           secs);
    return 0;
  }

  int latency() {
    std::vector<std::string> users{user(0), user(1)};
    if (!open_all(users)) return 1;
    std::size_t done = 0;
    measure_from_ = 0;
    std::function<void()> next = [&] {
      if (done == o_.count) return;
      ++sent_;
      conns_[0]->send_direct(users[1], body(now_ns(), 0), [this, sent_at = now_ns()](bool ok) {
        if (ok) {
          ++acked_;
          ack_.record((now_ns() - sent_at) / 1000);
        } else {
          ++ack_errors_;
        }
      });
    };
    conns_[1]->on_message([&](const std::string& b) {
      count_delivery(b, 1);
      ++done;
      next();
    });
    const auto t0 = clock::now();
    next();
    io_.restart();
    while (done < o_.count && io_.run_one()) {
    }
    report("", o_.count, std::chrono::duration<double>(clock::now() - t0).count());
    return 0;
  }

  /// A bystander's ack latency (user 2 -> user 3, one send at a time and at most
  /// o_.bystander_rate per second, within the default connection rate; o_.count sends) alone,
  /// then while user 0 pipelines o_.flood sends of o_.body_bytes to user 1 without waiting for
  /// answers (a hostile client; issue 11 measured 1.8 s p50 for the bystander before the
  /// read back-pressure). Prints both and the ratio of the p99s.
  int flood() {
    std::vector<std::string> users{user(0), user(1), user(2), user(3)};
    if (!open_all(users)) return 1;
    auto bystander = [&](const std::function<bool()>& more) {
      histogram h;
      std::size_t done = 0;
      bool waiting = false;
      asio::steady_timer pace(io_);
      const auto interval = std::chrono::duration_cast<clock::duration>(
          std::chrono::duration<double>(1.0 / std::max(o_.bystander_rate, 1e-3)));
      auto last = clock::now() - interval;
      std::function<void()> send = [&] {
        last = clock::now();
        const auto sent_at = now_ns();
        conns_[2]->send_direct(users[3], body(sent_at, 2), [&, sent_at](bool ok) {
          if (ok) h.record((now_ns() - sent_at) / 1000);
          ++done;
          if (done >= o_.count || !more()) {
            waiting = false;
            return;
          }
          pace.expires_at(last + interval);
          pace.async_wait([&](std::error_code) { send(); });
        });
      };
      waiting = true;
      send();
      io_.restart();
      while (waiting && io_.run_one()) {
      }
      return h;
    };
    auto alone = bystander([] { return true; });
    const std::string big(o_.body_bytes, 'f');
    std::size_t answered = 0, flood_ok = 0;
    const auto t0 = clock::now();
    for (std::size_t i = 0; i < o_.flood; ++i) {
      conns_[0]->send_direct(users[1], big, [&](bool ok) {
        ++answered;
        flood_ok += ok ? 1 : 0;
      });
    }
    auto flooded = bystander([&] { return answered < o_.flood; });
    // The bystander has its samples; the rest of the flood (read at the connection's rate, if
    // throttled) is not waited for.
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    const double ratio = static_cast<double>(flooded.quantile(0.99)) /
                         static_cast<double>(std::max<std::uint64_t>(1, alone.quantile(0.99)));
    std::printf(
        "{\"workload\":\"flood\",\"flood_sends\":%zu,\"flood_answered\":%zu,\"flood_acked\":%zu,"
        "\"body_bytes\":%zu,"
        "\"seconds\":%.2f,\"alone_p50_us\":%llu,\"alone_p99_us\":%llu,\"flooded_p50_us\":%llu,"
        "\"flooded_p99_us\":%llu,\"flooded_max_us\":%llu,\"flooded_samples\":%llu,"
        "\"p99_ratio\":%.2f}\n",
        o_.flood, answered, flood_ok, o_.body_bytes, secs, (unsigned long long)alone.quantile(0.5),
        (unsigned long long)alone.quantile(0.99), (unsigned long long)flooded.quantile(0.5),
        (unsigned long long)flooded.quantile(0.99), (unsigned long long)flooded.max(),
        (unsigned long long)flooded.count(), ratio);
    std::fflush(stdout);
    return 0;
  }

  /// Sends o_.count messages from user 0 to user 1 (64 in flight); prints how many were acked.
  int recovery_send() {
    std::vector<std::string> users{user(0)};
    if (!open_all(users)) return 1;
    std::size_t issued = 0, answered = 0;
    std::function<void()> pump = [&] {
      while (issued < o_.count && issued - answered < 64) {
        ++issued;
        ++sent_;
        conns_[0]->send_direct(user(1), body(now_ns(), 0), [&](bool ok) {
          ++answered;
          if (ok)
            ++acked_;
          else
            ++ack_errors_;
          pump();
        });
      }
    };
    pump();
    io_.restart();
    while (answered < o_.count && io_.run_one()) {
    }
    std::printf("{\"workload\":\"recovery-send\",\"sent\":%llu,\"acked\":%llu}\n",
                (unsigned long long)sent_, (unsigned long long)acked_);
    return 0;
  }

  /// Retries a login as user 1 until it succeeds (or o_.duration passes), then counts the
  /// messages of the user 0 / user 1 conversation with the blocking client.
  int recovery_check() {
    const auto t0 = clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<clock::duration>(
                                   std::chrono::duration<double>(o_.duration));
    std::unique_ptr<client::connection> c;
    while (clock::now() < deadline) {
      auto attempt = client::connection::connect(o_.ep.host, o_.ep.port);
      if (auto* conn = attempt ? &*attempt : nullptr) {
        if ((*conn)->login(credential(user(1)), "check").ok()) {
          c = std::move(*conn);
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the restart
    }
    const double login_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    if (!c) {
      std::printf("{\"workload\":\"recovery-check\",\"ok\":false}\n");
      return 1;
    }
    const auto a = user(0), b = user(1);
    const std::string conversation = schema::dm_conversation(a, b);
    auto pulled = client::pull_all(*c, conversation);
    const std::uint64_t stored = std::holds_alternative<std::vector<client::message>>(pulled)
                                     ? std::get<std::vector<client::message>>(pulled).size()
                                     : 0;
    std::printf(
        "{\"workload\":\"recovery-check\",\"ok\":true,\"login_ms\":%.1f,"
        "\"stored\":%llu}\n",
        login_ms, (unsigned long long)stored);
    return 0;
  }

  int register_users() {
    const auto users = users_for(o_.register_for);
    std::size_t next = 0, done = 0, failed = 0, in_flight = 0;
    std::function<void()> pump = [&] {
      while (in_flight < o_.concurrency && next < users.size()) {
        const std::size_t i = next++;
        ++in_flight;
        xmpp_register(io_, endpoint_for(i), o_.domain, users[i], o_.password,
                      [&, i](bool ok, const std::string& error) {
                        --in_flight;
                        ++done;
                        if (!ok && failed++ < 5)
                          std::cerr << "loadgen: register " << users[i] << ": " << error << "\n";
                        pump();
                      });
      }
    };
    pump();
    while (done < users.size() && io_.run_one()) {
    }
    std::printf("{\"workload\":\"register\",\"users\":%zu,\"failed\":%zu}\n", users.size(), failed);
    return failed ? 1 : 0;
  }

  options o_;
  asio::io_context io_;
  std::vector<std::string> sources_;
  std::unique_ptr<runtime::token_authority> tokens_;
  std::vector<std::shared_ptr<chat_conn>> conns_;
  std::uint64_t sent_ = 0, acked_ = 0, ack_errors_ = 0, delivered_ = 0;
  std::uint64_t measure_from_ = 0;
  histogram ack_, delivery_;
  std::uint64_t loop_start_ = 0;  ///< when open_loop() began sending
  struct slow_delivery {
    std::uint64_t at_ns;  ///< intended send, from loop_start_
    std::uint64_t us;     ///< delivery latency
  };
  static constexpr std::size_t max_slow_deliveries = 1000000;
  std::vector<slow_delivery> slow_deliveries_;
};

int merge(const std::vector<std::string>& files) {
  histogram total;
  for (auto& f : files) {
    std::ifstream in(f);
    std::string line;
    histogram h;
    if (!std::getline(in, line) || !h.parse(line)) {
      std::cerr << "loadgen: cannot read histogram " << f << "\n";
      return 1;
    }
    total.merge(h);
  }
  std::printf("{\"count\":%llu,\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu}\n",
              (unsigned long long)total.count(), (unsigned long long)total.quantile(0.5),
              (unsigned long long)total.quantile(0.99), (unsigned long long)total.quantile(0.999),
              (unsigned long long)total.max());
  return 0;
}

}  // namespace

}  // namespace parley::bench

int main(int argc, char** argv) {
  using namespace parley::bench;
  CLI::App app{"parley-loadgen: open-loop chat load for Parley and XMPP servers"};
  app.require_subcommand(1);
  options o;
  auto* run_cmd = app.add_subcommand("run", "Run one workload from this process");
  run_cmd->add_option("--protocol", o.protocol, "parley or xmpp")->capture_default_str();
  run_cmd->add_option("--host", o.ep.host)->capture_default_str();
  run_cmd->add_option("--port", o.ep.port)->capture_default_str();
  run_cmd->add_option("--sources", o.sources, "Comma-separated source addresses (127.0.0.x)");
  run_cmd->add_option("--secret-file", o.secret_file, "Parley node secret (to issue tokens)")
      ->capture_default_str();
  run_cmd->add_option("--domain", o.domain, "XMPP domain")->capture_default_str();
  run_cmd->add_option("--password", o.password, "XMPP password of every user")
      ->capture_default_str();
  run_cmd->add_option("--workload", o.workload, "idle, pairs, group, latency, flood, register")
      ->capture_default_str();
  run_cmd->add_option("--connections", o.connections, "Connections (idle, pairs, register)")
      ->capture_default_str();
  run_cmd->add_option("--first-user", o.first_user, "Index of this process's first user")
      ->capture_default_str();
  run_cmd->add_option("--user-prefix", o.user_prefix)->capture_default_str();
  run_cmd->add_option("--groups", o.groups)->capture_default_str();
  run_cmd->add_option("--members", o.members, "Members per group")->capture_default_str();
  run_cmd->add_option("--rate", o.rate, "Messages per second from this process")
      ->capture_default_str();
  run_cmd->add_option("--duration", o.duration, "Seconds of sending")->capture_default_str();
  run_cmd->add_option("--warmup", o.warmup, "Seconds excluded from histograms")
      ->capture_default_str();
  run_cmd->add_option("--drain", o.drain, "Seconds to wait for deliveries after sending")
      ->capture_default_str();
  run_cmd->add_option("--hold", o.hold, "Seconds to hold idle connections")->capture_default_str();
  run_cmd->add_option("--count", o.count, "Messages (latency)")->capture_default_str();
  run_cmd->add_option("--concurrency", o.concurrency, "Logins in flight")->capture_default_str();
  run_cmd->add_option("--register-for", o.register_for, "register: users of pairs/idle or group")
      ->capture_default_str();
  run_cmd->add_option("--hist-prefix", o.hist_prefix, "Write <prefix>.ack and <prefix>.delivery");
  run_cmd->add_option(
      "--slow-log", o.slow_log,
      "Write the deliveries slower than --slow-us here: send time (ms), latency (us)");
  run_cmd->add_option("--slow-us", o.slow_us, "Threshold of --slow-log")->capture_default_str();
  run_cmd->add_option("--flood", o.flood, "flood: sends the flooder pipelines")
      ->capture_default_str();
  run_cmd
      ->add_option("--bystander-rate", o.bystander_rate,
                   "flood: the bystander's sends per second at most")
      ->capture_default_str();
  run_cmd->add_option("--body-bytes", o.body_bytes, "flood: bytes per flooding send")
      ->capture_default_str();
  std::vector<std::string> files;
  auto* merge_cmd = app.add_subcommand("merge", "Merge histogram files and print percentiles");
  merge_cmd->add_option("files", files)->required();
  CLI11_PARSE(app, argc, argv);
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit(RLIMIT_NOFILE, &fds);  // best effort
  }
  try {
    if (merge_cmd->parsed()) return merge(files);
    run r(o);
    return r.execute();
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return 1;
  }
}
