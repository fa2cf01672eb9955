#pragma once
// The node's storage: one RocksDB database, one column family per shard.
//
// The shard is the unit of placement and of migration, so each shard's keys live in a column
// family of their own ("shard-007"). The shard count is fixed when the data dir is created and
// recorded in it; reopening with another count is refused. All column families share one
// write buffer budget, so 64 shards do not cost 64 full memtables.
//
// Thread safety: all methods may be called from any thread. Writes are usually submitted
// through runtime's group committer, which batches many actors' writes into one synced write.

#include "parley/store/event_log.hpp"
#include "parley/store/status.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::store {

/// Faults injected into a store's file writes, for tests of what the engine does when the
/// disk fails, fills up or loses power. Thread-safe; shared between the test and the store.
class fault_injector {
 public:
  enum class fault {
    none,                ///< Writes go through.
    io_error,            ///< Every file append, sync and creation fails: a broken disk (EIO).
    no_space,            ///< The same, as "no space left on device" (ENOSPC).
    out_of_descriptors,  ///< The same, as "too many open files" (EMFILE).
    power_lost,          ///< The same, silently: the machine is off (see power_loss()).
  };
  void set(fault f) { fault_.store(static_cast<int>(f)); }
  fault current() const { return static_cast<fault>(fault_.load()); }

  /// A power cut: from now on nothing reaches the disk. After the store is closed, call
  /// drop_unsynced() to cut every file written through the store back to its last sync, as the
  /// disk would hold it after the cut.
  void power_loss() { set(fault::power_lost); }
  /// Truncates every file written since the store opened to the bytes it had at its last
  /// sync (files never synced lose everything). Returns the bytes dropped. Then set(none).
  std::uint64_t drop_unsynced();

  // -- the store's file system reports here (store.cpp) --
  void appended(const std::string& file, std::size_t bytes);
  void synced(const std::string& file);
  void renamed(const std::string& from, const std::string& to);
  void removed(const std::string& file);

 private:
  struct file_state {
    std::uint64_t written = 0;
    std::uint64_t synced = 0;
  };
  std::atomic<int> fault_{0};
  std::mutex mu_;
  std::map<std::string, file_state> files_;
};

/// How a store is opened. Plain struct; parsed and validated in cli/.
struct options {
  /// Directory holding the database. Created if missing.
  std::string dir;
  /// Shards of a new data dir; ignored (but checked, if non-zero) for an existing one.
  /// More shards spread load over more nodes but cost a column family each. Default 64.
  std::uint32_t shard_count = 64;
  /// Whether a missing data dir may be created. Default true.
  bool create_if_missing = true;
  /// Memtable budget shared by all column families, bytes. Default 64 MiB.
  std::size_t write_buffer_budget = 64u << 20;
  /// Memtable size of one column family, bytes. Small because there are many. Default 4 MiB.
  std::size_t write_buffer_per_shard = 4u << 20;
  /// Tests only: faults to inject into file writes. Default none.
  std::shared_ptr<fault_injector> faults;
  /// Events each shard's event log keeps (event_log.hpp); older ones are deleted. Default 1 M.
  std::uint64_t event_retention = 1000000;
};

/// One put or delete, addressed to a shard.
struct write_op {
  std::uint32_t shard;  ///< Target shard (column family).
  std::string key;      ///< Full key (see keys.hpp).
  std::string value;    ///< Value for a put.
  bool erase = false;   ///< Delete instead of put.
  bool event = false;   ///< An event: `value` goes to the shard's event log (key assigned then).
};

/// Writes that become durable together, atomically.
class write_batch {
 public:
  void put(std::uint32_t shard, std::string key, std::string value) {
    ops_.push_back({shard, std::move(key), std::move(value), false});
  }
  void erase(std::uint32_t shard, std::string key) {
    ops_.push_back({shard, std::move(key), {}, true});
  }
  /// Appends `payload` to the event log of `shard` (event_log.hpp), numbered when written.
  void event(std::uint32_t shard, std::string payload) {
    ops_.push_back({shard, {}, std::move(payload), false, true});
  }
  /// Moves all of `other`'s writes after this batch's.
  void append(write_batch&& other);
  bool empty() const { return ops_.empty(); }
  std::size_t size() const { return ops_.size(); }
  const std::vector<write_op>& ops() const { return ops_; }

 private:
  std::vector<write_op> ops_;
};

/// Whether a write waits for the disk.
enum class durability {
  synced,    ///< WAL fsynced before write() returns: survives a power cut.
  buffered,  ///< WAL written, not fsynced: survives a process crash, not a power cut.
};

/// A key and its value.
struct entry {
  std::string key;
  std::string value;
};

/// Scan direction.
enum class direction { forward, backward };

/// One SST file of an exported shard, with the metadata its import needs.
struct exported_file {
  std::string name;   ///< File name, e.g. "000012.sst".
  std::string bytes;  ///< Its contents.
  int level = 0;
  std::uint64_t smallest_seqno = 0;
  std::uint64_t largest_seqno = 0;
  std::string smallest_key;
  std::string largest_key;
};

/// A shard's column family as files, for shipping to its new owner.
struct shard_export {
  std::string comparator;            ///< Must match the importer's.
  std::vector<exported_file> files;  ///< Empty for an empty shard.
};

/// Creates `dir` (and missing parents) and makes it private: mode 0700, so that other local
/// users cannot read message bodies, the secret or RocksDB's files (created 0644 under the
/// usual umask 022) inside it. An existing dir is tightened too.
error create_private_dir(const std::string& dir);

/// The node's database. Owned by the node; outlives every actor that reads it.
class store {
 public:
  /// Opens or creates the data dir described by `opts`.
  static result<std::unique_ptr<store>> open(const options& opts);

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Number of shards, fixed for this data dir.
  std::uint32_t shard_count() const;

  /// Reads one key; nullopt if absent.
  result<std::optional<std::string>> get(std::uint32_t shard, std::string_view key) const;

  /// Reads up to `limit` entries with begin <= key < end, in the given direction
  /// (backward starts from the largest key below `end`).
  result<std::vector<entry>> scan(std::uint32_t shard, std::string_view begin, std::string_view end,
                                  std::size_t limit, direction dir = direction::forward) const;

  /// Counts the keys with begin <= key < end, stopping at `limit` (keys only: values are not
  /// copied). For inspection.
  result<std::uint64_t> count(std::uint32_t shard, std::string_view begin, std::string_view end,
                              std::uint64_t limit) const;

  /// Applies `batch` atomically. After a failed write RocksDB refuses all writes (its
  /// background error); the store then tries DB::Resume() before each later write (at most
  /// every 100 ms) and refuses writes with a retriable io_error until it succeeds. Failures
  /// that pass by themselves (descriptors exhausted, disk or quota full) are marked retryable
  /// so that Resume() succeeds once the cause is gone; a broken disk (EIO) stays refused until
  /// an operator restarts the node. Reads keep working meanwhile.
  error write(const write_batch& batch, durability d);

  /// The events of `shard` after seq `after`, at most `limit`, up to the readable seq
  /// (event_log.hpp).
  result<event_page> read_events(std::uint32_t shard, std::uint64_t after, std::size_t limit);
  /// The event bell: `bell(shard)` is called (on the writing thread, after the write) when
  /// events of `shard` became readable while the bell of that shard was armed; ringing disarms
  /// it. Set once, before writes start. Arm first, then read: an event written in between
  /// rings the bell rather than being missed.
  void on_new_events(std::function<void(std::uint32_t shard)> bell);
  void arm_event_bell(std::uint32_t shard);

  /// Whether writes are refused after a storage error (and why), for stats and logs.
  std::optional<std::string> write_error() const;

  /// RocksDB's own figures, summed over the shards (for /metrics).
  struct engine_figures {
    std::uint64_t memtable_bytes = 0;            ///< rocksdb.cur-size-all-mem-tables
    std::uint64_t pending_compaction_bytes = 0;  ///< rocksdb.estimate-pending-compaction-bytes
    std::uint64_t running_compactions = 0;       ///< rocksdb.num-running-compactions
    std::uint64_t delayed_write_rate = 0;        ///< bytes/s while writes are slowed; else 0
    bool writes_stopped = false;                 ///< rocksdb.is-write-stopped
    std::uint64_t flushes = 0;                   ///< memtable flushes finished since open
    std::uint64_t compactions = 0;               ///< compactions finished since open
  };
  engine_figures figures() const;

  // -- migration (the caller guarantees nobody reads or writes the shard meanwhile) --

  /// Flushes the shard and exports its column family (Checkpoint::ExportColumnFamily); a
  /// shard with no live key exports no file, without touching the disk.
  result<shard_export> export_shard(std::uint32_t shard);
  /// Replaces the shard's column family with the exported one (CreateColumnFamilyWithImport);
  /// an export of no file empties it (clear_shard).
  error import_shard(std::uint32_t shard, const shard_export& data);
  /// Replaces the shard's column family with an empty one (after it moved away); nothing to
  /// do, and no disk write, when it has no live key. (Dropping and creating a family writes
  /// the MANIFEST twice: ~15 ms a shard here, which a drain of many empty shards felt.)
  /// With `unless_imported_since` (an imports_of() figure taken before the shard left), nothing
  /// is done if the shard has been imported since: it has come back, and the data is its own.
  error clear_shard(std::uint32_t shard,
                    std::optional<std::uint64_t> unless_imported_since = std::nullopt);
  /// How many times the shard has been imported into this store since it opened. Export,
  /// import and clear of one shard run one at a time.
  std::uint64_t imports_of(std::uint32_t shard) const;
  /// A consistent copy of the whole database in `dir` (which must not exist), while it runs:
  /// hard links to the immutable files where `dir` is on the same filesystem, copies
  /// elsewhere; the memtables are flushed first. Opening `dir` as a store gives the data as
  /// of this call (backups: docs/OPERATIONS.md).
  error checkpoint(const std::string& dir);

  /// Number of keys in a shard, by a full scan (tests and diagnostics).
  std::uint64_t count_keys(std::uint32_t shard) const;

 private:
  struct impl;
  explicit store(std::unique_ptr<impl> p);
  /// After a failed write: tries DB::Resume (rate-limited); the error while still failed.
  error resume_if_failed();
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::store
