// parley-hook-app: the app side of the hook and event benchmarks (docs/benchmarks.md). Connects
// to a node's app port and either installs a before-send hook that allows every message
// (--hook) or subscribes to the event feed and counts what it is given (--events), then
// serves until killed. With --events it prints "events <total>" on every delivered batch's
// second boundary, so bench/run can read a rate.
//   parley-hook-app --app 127.0.0.1:8611 --secret-file DATA/secret --hook
//   parley-hook-app --app 127.0.0.1:8611 --secret-file DATA/secret --events

#include "parley/runtime/token.hpp"

#include "app.capnp.h"

#include <capnp/ez-rpc.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

namespace {

class allow_all final : public parley::app::BeforeSendHook::Server {
 public:
  kj::Promise<void> check(CheckContext context) override {
    context.getResults().initVerdict().setAllow();
    return kj::READY_NOW;
  }
};

/// Counts events; with a target, fulfils `done` once it has that many.
class counter final : public parley::app::EventListener::Server {
 public:
  counter(std::uint64_t target, kj::Own<kj::PromiseFulfiller<void>> done)
      : target_(target), done_(kj::mv(done)) {}
  kj::Promise<void> deliver(DeliverContext context) override {
    if (total_ == 0) first_ = std::chrono::steady_clock::now();
    total_ += context.getParams().getEvents().size();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_print_ >= std::chrono::seconds(1)) {
      last_print_ = now;
      std::cout << "events " << total_ << std::endl;
    }
    if (target_ != 0 && total_ >= target_ && done_->isWaiting()) {
      const double s = std::chrono::duration<double>(now - first_).count();
      std::cout << "events " << total_ << " in " << s
                << " s: " << static_cast<std::uint64_t>(static_cast<double>(total_) / s)
                << " events/s" << std::endl;
      done_->fulfill();
    }
    return kj::READY_NOW;
  }

 private:
  const std::uint64_t target_;
  kj::Own<kj::PromiseFulfiller<void>> done_;
  std::uint64_t total_ = 0;
  std::chrono::steady_clock::time_point first_{}, last_print_{};
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", secret_file, mode;
  unsigned port = 0;
  std::uint64_t count = 0;  // --events --count N: from the oldest event, exit after N
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
    } else if (a == "--count" && i + 1 < argc) {
      count = std::stoull(argv[++i]);
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
    if (count == 0) req.setCursor(head.getCursor());  // else from the oldest kept
    auto done = kj::newPromiseAndFulfiller<void>();
    req.setListener(kj::heap<counter>(count, kj::mv(done.fulfiller)));
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
