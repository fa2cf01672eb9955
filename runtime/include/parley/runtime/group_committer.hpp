#pragma once
// Group commit: one synced write for the writes of many actors.
//
// A synced RocksDB write costs one fsync (~200 us here), so syncing each message on its own
// caps a node at a few thousand messages per second. Actors instead submit their batch with a
// callback; a dedicated thread takes everything queued, writes it as one WriteBatch with one
// fsync, and only then calls each callback. While one fsync runs the next group collects, so
// the group grows with the load and the per-message cost falls.
//
// Pacing: an fsync here takes ~150 us, so "the next group collects while one fsync runs"
// alone still made ~2,650 fsyncs a second for 3,000 msg/s (1.1 batches a group), and the
// committer thread used a quarter of the node's core. While writes overlap (a group held
// several batches, or more arrived during its write, within the last 100 ms), a group's write
// starts no sooner than min_sync_interval (1 ms) after the previous one began, or when the
// group is full: ~1,000 fsyncs a second at most. Measured (docs/benchmarks.md, "Paced group
// commits"): at 3,000 msg/s p99 12-14 ms -> 1.7-3.4 ms, server CPU per message -30 %, p50
// +0.6 ms. A lone client's write is never held: nothing overlaps it, and a paced wait that
// nobody joins turns pacing off until writes overlap again.
//
// Order: batches are written in submission order, and one submitter's batches never overtake
// each other, so an actor that assigns seqs in order also makes them durable in order.
// On failure every batch of the group gets the error; RocksDB then refuses further writes
// (background error), so no later seq of the same actor becomes durable behind a hole.
//
// Without fsync (--unsafe-no-fsync) there is nothing to share: submit() writes at once on the
// caller's thread (RocksDB merges concurrent writers itself) and calls back there, which saves
// the hop to the committer thread and back: unloaded p50 344 -> 232 us (docs/benchmarks.md).
//
// Thread safety: submit() from any thread. Callbacks run on the committer thread (the caller's,
// unsynced) and must not block (send a message to the actor, nothing more). Lifetime: owned by the
// node; stop() drains the queue and joins the thread.

#include "parley/runtime/metric_histogram.hpp"
#include "parley/store/store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace parley::runtime {

/// Options of the group committer.
struct committer_options {
  /// Whether each group is fsynced before its callbacks run. Turning it off (the
  /// --unsafe-no-fsync benchmark flag) means an ack no longer implies the message survives a
  /// power cut. Default: synced.
  store::durability durability = store::durability::synced;
  /// Most operations merged into one write; bounds the latency of one group. Default 8192.
  std::size_t max_group_ops = 8192;
  /// Synced only: while writes overlap (several batches per group, or more arriving during
  /// a group's write), a group's write starts at least this long after the previous one
  /// started, so that more batches share its fsync; 0 writes as soon as the previous write
  /// ends. One client at a time (its next batch comes after its callback) is never held back.
  /// Default 1 ms (at most ~1,000 fsyncs a second under load; see the file comment).
  std::chrono::microseconds min_sync_interval{1000};
};

/// Counters of a committer, for stats and benchmarks.
struct committer_stats {
  std::uint64_t groups = 0;   ///< Writes to RocksDB.
  std::uint64_t batches = 0;  ///< Submitted batches.
  std::uint64_t ops = 0;      ///< Puts and deletes.
};

/// See the file comment.
class group_committer {
 public:
  using callback = std::function<void(const error&)>;

  group_committer(store::store& db, committer_options opts);
  ~group_committer();
  group_committer(const group_committer&) = delete;
  group_committer& operator=(const group_committer&) = delete;

  /// Queues `batch`; `done` runs once it is durable (or failed). After stop(), `done` runs at
  /// once with shutting_down.
  void submit(store::write_batch batch, callback done);

  /// Writes everything queued, runs its callbacks, and joins the thread. Idempotent.
  void stop();

  committer_stats stats() const;
  /// How long each write of a group took (RocksDB write and, when synced, its fsync), in µs.
  latency_histogram::snapshot write_latency() const { return write_us_.read(); }
  /// Batches per group commit.
  count_histogram::snapshot group_sizes() const { return group_batches_.read(); }

 private:
  struct pending {
    store::write_batch batch;
    callback done;
  };

  void run();
  latency_histogram write_us_;
  count_histogram group_batches_;
  /// Buffered durability: writes `batch` on the calling thread.
  void write_now(store::write_batch batch, const callback& done);

  store::store& db_;
  committer_options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;            ///< The committer thread waits for work.
  std::condition_variable writers_done_;  ///< stop() waits for write_now() calls.
  std::vector<pending> queue_;
  std::size_t queued_ops_ = 0;  ///< Operations in queue_.
  bool idle_ = false;           ///< The committer thread waits for a first batch.
  bool stopping_ = false;
  std::size_t writers_ = 0;  ///< write_now() calls in progress.
  committer_stats stats_;
  std::thread thread_;
};

}  // namespace parley::runtime
