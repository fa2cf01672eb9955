// parley-hook-app: the app side of the hook and event benchmarks (docs/benchmarks.md). Connects
// to a node's app port and either installs a before-send hook that allows every message
// (--hook) or subscribes to the event feed and counts what it is given (--events), then
// serves until killed. With --events it prints "events <total>" on every delivered batch's
// second boundary, so bench/run can read a rate. --count N: read from the oldest event and exit
// after N with the rate; --live N: from now on, exit after N stored messages with how late
// they came (the app's clock minus the event's timestamp: both on this machine).
//   parley-hook-app --app 127.0.0.1:8611 --secret-file DATA/secret --hook
//   parley-hook-app --app 127.0.0.1:8611 --secret-file DATA/secret --events [--count N|--live N]

#include "parley/runtime/token.hpp"

#include "app.capnp.h"

#include <capnp/ez-rpc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

namespace {

class allow_all final : public parley::app::BeforeSendHook::Server {
 public:
  kj::Promise<void> check(CheckContext context) override {
    context.getResults().initVerdict().setAllow();
    return kj::READY_NOW;
  }
};

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

/// Counts events; with a target, fulfils `done` once it has that many (live: that many stored
/// messages, whose delays it keeps).
class counter final : public parley::app::EventListener::Server {
 public:
  counter(std::uint64_t target, bool live, kj::Own<kj::PromiseFulfiller<void>> done)
      : target_(target), live_(live), done_(kj::mv(done)) {}
  kj::Promise<void> deliver(DeliverContext context) override {
    if (total_ == 0) first_ = std::chrono::steady_clock::now();
    const auto events = context.getParams().getEvents();
    total_ += events.size();
    const std::uint64_t arrived = now_ms();
    for (auto e : events) {
      if (e.isMessageStored())
        delays_ms_.push_back(arrived - std::min(arrived, e.getTimestampMs()));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_print_ >= std::chrono::seconds(1)) {
      last_print_ = now;
      std::cout << "events " << total_ << std::endl;
    }
    const std::uint64_t reached = live_ ? delays_ms_.size() : total_;
    if (target_ != 0 && reached >= target_ && done_->isWaiting()) {
      const double s = std::chrono::duration<double>(now - first_).count();
      std::cout << "events " << total_ << " in " << s
                << " s: " << static_cast<std::uint64_t>(static_cast<double>(total_) / s)
                << " events/s" << std::endl;
      if (live_) print_delays();
      done_->fulfill();
    }
    return kj::READY_NOW;
  }

 private:
  void print_delays() {
    std::sort(delays_ms_.begin(), delays_ms_.end());
    auto at = [&](double q) {
      return delays_ms_[static_cast<std::size_t>(q * static_cast<double>(delays_ms_.size() - 1))];
    };
    std::cout << "stored-message events: " << delays_ms_.size() << ", delay ms p50 " << at(0.5)
              << " p99 " << at(0.99) << " max " << delays_ms_.back() << std::endl;
  }

  const std::uint64_t target_;
  const bool live_;
  kj::Own<kj::PromiseFulfiller<void>> done_;
  std::uint64_t total_ = 0;
  std::vector<std::uint64_t> delays_ms_;
  std::chrono::steady_clock::time_point first_{}, last_print_{};
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", secret_file, mode;
  unsigned port = 0;
  std::uint64_t count = 0;  // --events --count N: from the oldest event, exit after N
  bool live = false;        // --events --live N: from now on, exit after N stored messages
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--app" && i + 1 < argc) {
      const std::string v = argv[++i];
      host = v.substr(0, v.rfind(':'));
      port = static_cast<unsigned>(std::stoul(v.substr(v.rfind(':') + 1)));
    } else if (a == "--secret-file" && i + 1 < argc) {
      secret_file = argv[++i];
    } else if (a == "--hook" || a == "--events") {
      mode = a;
    } else if ((a == "--count" || a == "--live") && i + 1 < argc) {
      count = std::stoull(argv[++i]);
      live = a == "--live";
    } else {
      std::cerr << "usage: parley-hook-app --app HOST:PORT --secret-file F (--hook|--events)\n";
      return 2;
    }
  }
  auto secret = parley::runtime::load_secret(secret_file);
  if (!secret.ok() || port == 0 || mode.empty()) {
    std::cerr << "parley-hook-app: need --app, a readable --secret-file and a mode\n";
    return 2;
  }
  capnp::EzRpcClient rpc(host, port);
  auto& ws = rpc.getWaitScope();
  auto auth = rpc.getMain<parley::app::Bootstrap>().authenticateRequest();
  auth.setSecret(
      capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(secret->data()), secret->size()));
  auto engine = auth.send().wait(ws).getEngine();
  kj::Maybe<parley::app::Subscription::Client> subscription;
  if (mode == "--hook") {
    auto hooks = engine.hooksRequest().send().wait(ws).getHooks();
    auto req = hooks.setBeforeSendRequest();
    req.setHook(kj::heap<allow_all>());
    req.setTimeoutMs(200);
    req.setFailOpen(false);
    req.send().wait(ws);
    std::cout << "hook installed" << std::endl;
  } else {
    auto events = engine.eventsRequest().send().wait(ws).getEvents();
    auto head = events.headRequest().send().wait(ws);
    auto req = events.subscribeRequest();
    if (count == 0 || live) req.setCursor(head.getCursor());  // else from the oldest kept
    auto done = kj::newPromiseAndFulfiller<void>();
    req.setListener(kj::heap<counter>(count, live, kj::mv(done.fulfiller)));
    req.setMaxBatch(1000);
    subscription = req.send().wait(ws).getSubscription();
    std::cout << "subscribed" << std::endl;
    if (count != 0) {
      done.promise.wait(ws);
      return 0;
    }
  }
  kj::NEVER_DONE.wait(ws);
}
