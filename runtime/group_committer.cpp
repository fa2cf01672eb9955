#include "parley/runtime/group_committer.hpp"

#include <pthread.h>

#include <chrono>

namespace parley::runtime {

namespace {

/// How long after the last write that batches overlapped the committer keeps pacing: long
/// enough to bridge the gaps of a steady load, short enough that a lone client soon after a
/// burst is not held back.
constexpr auto overlap_memory = std::chrono::milliseconds(100);

}  // namespace

group_committer::group_committer(store::store& db, committer_options opts)
    : db_(db), opts_(opts), thread_([this] { run(); }) {}

group_committer::~group_committer() {
  stop();
}

void group_committer::submit(store::write_batch batch, callback done) {
  if (opts_.durability == store::durability::buffered) return write_now(std::move(batch), done);
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (!stopping_) {
      queued_ops_ += batch.size();
      queue_.push_back({std::move(batch), std::move(done)});
      // A committer that paces its next write is woken only by a full group: waking it for
      // every batch would cost a context switch each.
      if (idle_ || queued_ops_ >= opts_.max_group_ops) cv_.notify_one();
      return;
    }
  }
  done(error(store::errc::shutting_down, "the node is stopping"));
}

void group_committer::write_now(store::write_batch batch, const callback& done) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (stopping_) {
      done(error(store::errc::shutting_down, "the node is stopping"));
      return;
    }
    // Counted before the write so that stop() (which sets stopping_ under mu_) waits for it.
    ++writers_;
  }
  const auto started = std::chrono::steady_clock::now();
  const error st = db_.write(batch, store::durability::buffered);
  write_us_.observe(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now() - started)
                                     .count()));
  group_batches_.observe(1);
  {
    std::lock_guard<std::mutex> guard(mu_);
    stats_.groups += 1;
    stats_.batches += 1;
    stats_.ops += batch.size();
    // Only stop() waits for the inline writers; waking the committer thread for nothing cost
    // two context switches per unsynced write.
    if (--writers_ == 0 && stopping_) writers_done_.notify_all();
  }
  done(st);
}

void group_committer::stop() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  std::unique_lock<std::mutex> lock(mu_);
  writers_done_.wait(lock, [this] { return writers_ == 0; });  // inline writes still running
}

committer_stats group_committer::stats() const {
  std::lock_guard<std::mutex> guard(mu_);
  return stats_;
}

void group_committer::run() {
  using clock = std::chrono::steady_clock;
  pthread_setname_np(pthread_self(), "parley.commit");  // for top -H, perf and /proc
  std::vector<pending> group;
  const bool paced = opts_.durability == store::durability::synced &&
                     opts_.min_sync_interval > std::chrono::microseconds::zero();
  clock::time_point last_start;   // when the previous group's write began
  clock::time_point overlapping;  // until then, pace: writers overlapped
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.empty() && !stopping_) {
        idle_ = true;
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        idle_ = false;
        // Woken by the first batch: on a core shared with the submitting loop thread this
        // thread runs at once, and would write that batch alone. Let the submitter go on
        // first, so that what it has queued meanwhile joins the group.
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
      }
      const auto now = clock::now();
      if (paced && now < overlapping && now < last_start + opts_.min_sync_interval) {
        const std::size_t before = queue_.size();
        cv_.wait_until(lock, last_start + opts_.min_sync_interval,
                       [this] { return stopping_ || queued_ops_ >= opts_.max_group_ops; });
        // Nothing joined: the writers wait for this write (one client at a time, or the
        // burst of writes a first contact makes). Stop pacing until writes overlap again.
        if (queue_.size() == before) overlapping = clock::time_point();
      }
      if (queue_.empty()) return;  // stopping and drained
      // Take whole batches up to the op budget (at least one, however large).
      std::size_t ops = 0;
      std::size_t n = 0;
      while (n < queue_.size() && (n == 0 || ops + queue_[n].batch.size() <= opts_.max_group_ops)) {
        ops += queue_[n].batch.size();
        ++n;
      }
      group.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queued_ops_ -= ops;
    }
    store::write_batch merged;
    std::size_t ops = 0;
    for (auto& p : group) {
      ops += p.batch.size();
      merged.append(std::move(p.batch));
    }
    const auto started = clock::now();
    const error st = db_.write(merged, opts_.durability);
    const auto ended = clock::now();
    write_us_.observe(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(ended - started).count()));
    group_batches_.observe(group.size());
    last_start = started;
    {
      std::lock_guard<std::mutex> guard(mu_);
      stats_.groups += 1;
      stats_.batches += group.size();
      stats_.ops += ops;
      // Writers overlap: several batches shared this group, or more came during its write.
      // (Not those that come during its callbacks: a lone writer's next batch does.)
      if (group.size() > 1 || !queue_.empty()) overlapping = ended + overlap_memory;
    }
    for (auto& p : group) p.done(st);
    group.clear();
  }
}

}  // namespace parley::runtime
