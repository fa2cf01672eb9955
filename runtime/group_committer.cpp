#include "parley/runtime/group_committer.hpp"

#include <chrono>

namespace parley::runtime {

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
      queue_.push_back({std::move(batch), std::move(done)});
      cv_.notify_one();
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
  std::vector<pending> group;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.empty() && !stopping_) {
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        // Woken by the first batch: on a core shared with the submitting loop thread this
        // thread runs at once, and would write that batch alone. Let the submitter go on
        // first, so that what it has queued meanwhile joins the group.
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
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
    }
    store::write_batch merged;
    std::size_t ops = 0;
    for (auto& p : group) {
      ops += p.batch.size();
      merged.append(std::move(p.batch));
    }
    const auto started = std::chrono::steady_clock::now();
    const error st = db_.write(merged, opts_.durability);
    write_us_.observe(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count()));
    group_batches_.observe(group.size());
    {
      std::lock_guard<std::mutex> guard(mu_);
      stats_.groups += 1;
      stats_.batches += group.size();
      stats_.ops += ops;
    }
    for (auto& p : group) p.done(st);
    group.clear();
  }
}

}  // namespace parley::runtime
