#pragma once
// An app server that hosts hooks (schema/app.capnp, Hooks) on its own thread, with its own kj
// loop: the node calls the hooks while the test thread is blocked in a client's send.
//
//   test_support::hook_app app(port, secret, [&](app::Engine::Client engine, kj::WaitScope& ws) {
//     ... install hooks (their servers run on the app's thread) ...
//   });
//   ... clients send; the hooks record what they were given ...
// Destroying it disconnects the app (its hooks stay installed on the node, now unreachable).

#include "app_client.hpp"

#include <kj/async.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace parley::test_support {

class hook_app {
 public:
  using setup_fn = std::function<void(app::Engine::Client engine, kj::WaitScope& ws)>;

  hook_app(std::uint16_t port, std::string secret, setup_fn setup) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, port, secret = std::move(secret), setup = std::move(setup),
                           ready = std::move(ready)]() mutable {
      app_client app(port);
      std::vector<capnp::Capability::Client> kept;  // destroyed before the app's event loop
      kept_here() = &kept;
      auto stopping = kj::newPromiseAndCrossThreadFulfiller<void>();
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = kj::mv(stopping.fulfiller);
      }
      try {
        setup(app.engine(secret), app.wait());
        ready.set_value();
      } catch (...) {
        ready.set_exception(std::current_exception());
        return;
      }
      stopping.promise.wait(app.wait());
    });
    try {
      started.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }

  ~hook_app() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_->fulfill();
    }
    thread_.join();
  }

  hook_app(const hook_app&) = delete;
  hook_app& operator=(const hook_app&) = delete;

  /// In a setup function: keeps `cap` (a subscription) until the app stops.
  static void keep(capnp::Capability::Client cap) { kept_here()->push_back(kj::mv(cap)); }

 private:
  static std::vector<capnp::Capability::Client>*& kept_here() {
    static thread_local std::vector<capnp::Capability::Client>* kept = nullptr;
    return kept;
  }

  std::mutex mu_;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop_;
  std::thread thread_;
};

/// What hooks hand to a test thread: items appended on the app's thread, awaited on the
/// test's (bounded by a deadline, failing the case if it passes).
template <class T>
class mailbox {
 public:
  void add(T item) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(std::move(item));
    cv_.notify_all();
  }
  /// Waits until `pred(items)` holds (at most 10 s) and returns a copy of the items.
  template <class Pred>
  std::vector<T> wait_until(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool met =
        cv_.wait_for(lock, std::chrono::seconds(10), [&] { return pred(std::as_const(items_)); });
    BOOST_TEST_REQUIRE(met, "the hook was not called as expected in 10 s");
    return items_;
  }
  std::vector<T> items() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

/// A before-send hook judging by the body: "bad..." is rejected, "rewrite me" becomes
/// "rewritten", "slow" is never answered, anything else is allowed. Counts its calls.
class word_filter final : public app::BeforeSendHook::Server {
 public:
  explicit word_filter(std::atomic<int>& calls) : calls_(calls) {}

  kj::Promise<void> check(CheckContext context) override {
    ++calls_;
    auto m = context.getParams().getMessage();
    const std::string body(reinterpret_cast<const char*>(m.getBody().begin()), m.getBody().size());
    auto verdict = context.getResults().initVerdict();
    if (body == "slow") return kj::NEVER_DONE;
    if (body.rfind("bad", 0) == 0) {
      verdict.setReject("no bad words, " + std::string(m.getSender().cStr()));
    } else if (body == "rewrite me") {
      verdict.setRewrite(data_of("rewritten"));
    } else {
      verdict.setAllow();
    }
    return kj::READY_NOW;
  }

 private:
  std::atomic<int>& calls_;
};

/// Installs a word_filter with `timeout_ms` and `fail_open`.
inline hook_app::setup_fn install_filter(std::atomic<int>& calls, std::uint32_t timeout_ms,
                                         bool fail_open) {
  return [&calls, timeout_ms, fail_open](app::Engine::Client engine, kj::WaitScope& ws) {
    auto hooks = engine.hooksRequest().send().wait(ws).getHooks();
    auto req = hooks.setBeforeSendRequest();
    req.setHook(kj::heap<word_filter>(calls));
    req.setTimeoutMs(timeout_ms);
    req.setFailOpen(fail_open);
    req.send().wait(ws);
  };
}

struct notice {
  std::string recipient, conversation, sender, preview;
  std::uint64_t seq;
};

class notice_sink final : public app::OfflinePushHook::Server {
 public:
  explicit notice_sink(mailbox<notice>& box) : box_(box) {}
  kj::Promise<void> notify(NotifyContext context) override {
    for (auto n : context.getParams().getNotices()) {
      box_.add(notice{
          n.getRecipient(), n.getConversation(), n.getSender(),
          std::string(reinterpret_cast<const char*>(n.getPreview().begin()), n.getPreview().size()),
          n.getSeq()});
    }
    return kj::READY_NOW;
  }

 private:
  mailbox<notice>& box_;
};

}  // namespace parley::test_support
