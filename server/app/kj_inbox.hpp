#pragma once
// CAF -> kj for the app port's capabilities (server/app/): closures posted from any thread (a
// CAF worker) run on the kj thread, in order. kj's Executor cannot be called from a thread
// without a kj loop, so this is a locked queue plus a cross-thread fulfiller that the kj side
// re-arms (../shared/stack-notes.md).

#include <kj/async.h>

#include <deque>
#include <functional>
#include <mutex>

namespace parley::server::app_rpc {

class kj_inbox {
 public:
  /// False once closed (the closure is dropped).
  bool post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    queue_.push_back(std::move(fn));
    if (armed_) {
      armed_ = false;
      wake_->fulfill();
    }
    return true;
  }

  /// On the kj thread: runs what is posted, forever.
  kj::Promise<void> serve() {
    auto next = kj::newPromiseAndCrossThreadFulfiller<void>();
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_ = kj::mv(next.fulfiller);
      if (queue_.empty()) {
        armed_ = true;
      } else {
        wake_->fulfill();
      }
    }
    return next.promise.then([this] {
      std::deque<std::function<void()>> batch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(queue_);
      }
      for (auto& fn : batch) fn();
      return serve();
    });
  }

  /// Drops what is queued and refuses what comes (the host is going away).
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    queue_.clear();
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> wake_;
  bool armed_ = false;
  bool closed_ = false;
};

}  // namespace parley::server::app_rpc
