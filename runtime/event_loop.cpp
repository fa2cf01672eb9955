#include "parley/runtime/event_loop.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/set_thread_name.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/logger.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace parley::runtime {

namespace {

class loop_scheduler;

/// What an actor sees as its worker: scheduling another actor from inside a handler posts it to
/// the loop like any other enqueue (thread-safe, so one unit serves every loop thread).
class loop_unit final : public caf::execution_unit {
 public:
  loop_unit(caf::actor_system& sys, loop_scheduler& scheduler)
      : caf::execution_unit(&sys), scheduler_(scheduler) {}

  void exec_later(caf::resumable* job) override;

 private:
  loop_scheduler& scheduler_;
};

/// CAF's scheduler module, running each runnable actor as one handler on the loop.
/// References: a job arrives with one reference taken by whoever scheduled it (CAF's contract
/// with its workers), which the run gives back unless the job goes round again.
class loop_scheduler final : public caf::scheduler::abstract_coordinator {
 public:
  loop_scheduler(caf::actor_system& sys, asio::io_context& io, std::size_t threads,
                 std::atomic<std::size_t>& queued)
      : caf::scheduler::abstract_coordinator(sys),
        io_(io),
        threads_(threads),
        unit_(sys, *this),
        queued_(queued) {}

  void init(caf::actor_system_config& cfg) override {
    caf::scheduler::abstract_coordinator::init(cfg);
    num_workers_ = threads_;
  }

  void start() override {
    clock_thread_ = std::thread([this] {
      caf::detail::set_thread_name("caf.clock");
      system().thread_started();
      clock_.run_dispatch_loop();
      system().thread_terminates();
    });
    caf::scheduler::abstract_coordinator::start();  // the printer (a detached actor)
  }

  /// Called by the actor system's destructor, on a thread that is not the loop's.
  void stop() override {
    stop_actors();
    // No timer fires past this point: a delayed message would arrive after the cleanup.
    clock_.cancel_dispatch_loop();
    clock_thread_.join();
    // Every job still queued, or enqueued by a cleanup, is cleaned up instead of run (what
    // CAF's own scheduler does with its queues); then nothing of this system is left on the loop.
    {
      std::unique_lock<std::mutex> lock(mu_);
      stopping_.store(true);
      drained_.wait(lock, [this] { return queued_.load() == 0; });
    }
    release_thread_locals();
  }

  void enqueue(caf::resumable* job) override { post(job); }

  caf::detail::thread_safe_actor_clock& clock() noexcept override { return clock_; }

  /// CAF keeps a reference to the system's logger in a thread-local of every thread that spawned
  /// an actor, and the system's destructor waits for the logger to go: CAF's own workers end
  /// with the system, the loop's threads do not. One task per thread, each held until all have
  /// started (so that each thread takes one), drops those references.
  void release_thread_locals() {
    std::mutex m;
    std::condition_variable cv;
    std::size_t started = 0;
    std::size_t finished = 0;
    for (std::size_t i = 0; i < threads_; ++i) {
      asio::post(io_, [&] {
        caf::logger::set_current_actor_system(nullptr);
        std::unique_lock<std::mutex> lock(m);
        ++started;
        cv.notify_all();
        cv.wait(lock, [&] { return started == threads_; });
        ++finished;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return finished == threads_; });
  }

  void post(caf::resumable* job) {
    queued_.fetch_add(1);
    asio::post(io_, [this, job] { run(job); });
  }

 private:
  void run(caf::resumable* job) {
    if (stopping_.load()) {
      cleanup_and_release(job);
    } else {
      switch (job->resume(&unit_, max_throughput_)) {
        case caf::resumable::resume_later:
          post(job);  // keeps its reference
          break;
        case caf::resumable::done:
        case caf::resumable::awaiting_message:
          intrusive_ptr_release(job);
          break;
        case caf::resumable::shutdown_execution_unit:
          break;  // only CAF's own scheduler enqueues jobs that ask for it
      }
    }
    if (queued_.fetch_sub(1) == 1 && stopping_.load()) {
      std::lock_guard<std::mutex> guard(mu_);
      drained_.notify_all();
    }
  }

  asio::io_context& io_;
  const std::size_t threads_;
  loop_unit unit_;
  caf::detail::thread_safe_actor_clock clock_;
  std::thread clock_thread_;
  // Jobs posted and not yet run (the loop's, see actors_waiting); stop() waits for none.
  // Sequentially consistent with stopping_: a run that takes the count to zero either sees
  // stopping_ (and wakes stop()) or stop() sees the zero.
  std::atomic<std::size_t>& queued_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable drained_;
};

void loop_unit::exec_later(caf::resumable* job) {
  scheduler_.post(job);
}

}  // namespace

struct event_loop::impl {
  explicit impl(std::size_t n)
      : count(n == 0 ? 1 : n),
        io(static_cast<int>(count)),  // 1: Asio queues a loop thread's own posts without a lock
        work(asio::make_work_guard(io)) {
    for (std::size_t i = 0; i < count; ++i) {
      threads.emplace_back([this] {
        pthread_setname_np(pthread_self(), "parley.loop");
        io.run();
      });
    }
  }

  const std::size_t count;
  std::atomic<std::size_t> actors_waiting{0};  ///< the scheduler's queued jobs
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::vector<std::thread> threads;
};

event_loop::event_loop(std::size_t threads) : impl_(std::make_unique<impl>(threads)) {}

event_loop::~event_loop() {
  stop();
}

asio::io_context& event_loop::io() {
  return impl_->io;
}

std::size_t event_loop::threads() const {
  return impl_->count;
}

std::size_t event_loop::actors_waiting() const {
  return impl_->actors_waiting.load(std::memory_order_relaxed);
}

void event_loop::host_actors(caf::actor_system_config& cfg) {
  // An actor with a deep mailbox yields after this many messages, so the sockets of its thread
  // are not starved meanwhile (CAF's default is no limit).
  cfg.set("scheduler.max-throughput", std::size_t{100});
  cfg.module_factories.push_back(
      [&i = *impl_](caf::actor_system& sys) -> caf::actor_system::module* {
        return new loop_scheduler(sys, i.io, i.count, i.actors_waiting);
      });
}

void event_loop::stop() {
  auto& i = *impl_;
  i.work.reset();
  for (auto& t : i.threads) t.join();
  i.threads.clear();
}

}  // namespace parley::runtime
