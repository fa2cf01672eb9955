#pragma once
// An append-only, seq-ordered log owned by one entity: a conversation's messages or a user's
// inbox. The owning actor assigns seqs (gap-free, from 1) and appends through a write batch;
// reads go straight to the store. Narrow on purpose: append, read forward, read backward,
// last, at, and rewrite: an entry's seq never changes, its content may (a message edited or
// recalled is rewritten in place, so its old body is gone from the log; RocksDB drops the
// superseded version at its next compaction of that range).

#include "parley/store/keys.hpp"
#include "parley/store/store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace parley::store {

/// One log entry.
struct log_entry {
  std::uint64_t seq;
  std::string value;
};

/// A page of a log read.
struct log_page {
  std::vector<log_entry> entries;  ///< In the order requested.
  bool has_more = false;           ///< More entries exist beyond this page.
};

/// A view of one entity's log. Cheap to copy; does not own the store.
class seq_log {
 public:
  seq_log(const store& db, std::uint32_t shard, std::string entity_id, record rec);

  /// Adds entry `seq` to `batch`; it exists once the batch is written.
  void append(write_batch& batch, std::uint64_t seq, std::string value) const;
  /// Replaces the content of existing entry `seq` in `batch`.
  void rewrite(write_batch& batch, std::uint64_t seq, std::string value) const;
  /// Entries with seq > after, ascending, at most `limit`.
  result<log_page> read_after(std::uint64_t after, std::size_t limit) const;
  /// Entries with after < seq < before (before 0 = no upper bound), descending, at most
  /// `limit`.
  result<log_page> read_before(std::uint64_t before, std::size_t limit,
                               std::uint64_t after = 0) const;
  /// Highest seq in the log, 0 if empty.
  result<std::uint64_t> last_seq() const;
  /// The entry with this seq, if present.
  result<std::optional<std::string>> at(std::uint64_t seq) const;

 private:
  result<log_page> read(std::string begin, std::string end, std::size_t limit, direction dir) const;

  const store* db_;
  std::uint32_t shard_;
  std::string entity_id_;
  record rec_;
};

}  // namespace parley::store
