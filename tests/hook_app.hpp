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

 private:
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

}  // namespace parley::test_support
