#pragma once
// Each shard's event log: the app's event feed (schema/app.capnp, Events), kept where the
// events happen so that it is as durable as they are and moves with its shard.
//
// An entity adds an event to the write batch that makes its change durable
// (write_batch::event), so the event exists exactly when the change does. The event's seq is
// assigned when the batch is written (store::write), per shard, gap-free in the order seqs are
// taken. Writes may complete out of that order (concurrent writers without the group
// committer), so a reader sees only up to the *readable* seq: the highest seq below which
// every taken seq has been written or has failed. A failed write leaves a hole (its seqs are
// skipped), never a later event visible before an earlier one that still may appear.
//
// Keys: seq_key(event_log_owner(shard), record::event, seq), in the shard's column family; the
// presence actor of the shard ("presence/<shard>") reads them. A shard keeps at most
// `retention` events: older ones are deleted in the batches that pass the bound.

#include "parley/schema/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace parley::store {

/// The entity whose keys hold a shard's events (runtime::presence_entity's format).
std::string event_log_owner(std::uint32_t shard);

/// One stored event.
struct event_entry {
  std::uint64_t seq = 0;
  std::string payload;
};

/// A page of a shard's events.
struct event_page {
  std::vector<event_entry> events;
  std::uint64_t through = 0;   ///< Read up to this seq (continue after it).
  std::uint64_t readable = 0;  ///< The readable seq when the page was read.
};

/// Numbers the events of each shard and tracks which are written (see the file comment).
/// Thread-safe.
class event_sequencer {
 public:
  /// `last_seq(shard)` reads the highest stored seq of a shard (0 if none); called once per
  /// shard before its first number, and again after forget().
  explicit event_sequencer(std::function<result<std::uint64_t>(std::uint32_t)> last_seq)
      : last_seq_(std::move(last_seq)) {}

  /// Takes `n` consecutive seqs of `shard`; returns the first.
  result<std::uint64_t> take(std::uint32_t shard, std::size_t n);
  /// The seqs [first, first + n) of `shard` are written (or failed for good).
  void settle(std::uint32_t shard, std::uint64_t first, std::size_t n);
  /// The readable seq of `shard`.
  result<std::uint64_t> readable(std::uint32_t shard);
  /// The shard's log was replaced (import) or dropped: count again from what is stored.
  void forget(std::uint32_t shard);

 private:
  struct shard_state {
    std::uint64_t next = 1;         ///< The next seq to take.
    std::set<std::uint64_t> taken;  ///< Taken, not yet settled.
  };
  result<shard_state*> state_of(std::uint32_t shard);

  std::function<result<std::uint64_t>(std::uint32_t)> last_seq_;
  std::mutex mu_;
  std::map<std::uint32_t, shard_state> shards_;
};

}  // namespace parley::store
