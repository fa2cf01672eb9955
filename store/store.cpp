#include "parley/store/store.hpp"
#include "parley/schema/log.hpp"
#include "parley/store/keys.hpp"

#include "records.capnp.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <sstream>

namespace parley::store {

namespace {

constexpr std::uint32_t format_version = 1;
constexpr std::string_view meta_key = "parley/meta";
/// Arena block of a family's memtable (see the column family options in store::open).
constexpr std::size_t memtable_block_bytes = 64u << 10;

error convert(const rocksdb::Status& s) {
  if (s.ok()) return {};
  errc code = errc::io_error;
  if (s.IsNotFound())
    code = errc::not_found;
  else if (s.IsCorruption())
    code = errc::corruption;
  else if (s.IsInvalidArgument() || s.IsNotSupported())
    code = errc::invalid_argument;
  else if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut())
    code = errc::busy;
  else if (s.IsShutdownInProgress())
    code = errc::shutting_down;
  return {code, s.ToString()};
}

/// The keys a send writes, grouped by entity and record (keys.hpp: the 2-byte length, the
/// entity id, the record tag): the memtable keeps an insert hint per such prefix, so a key
/// next to the last one written under its prefix skips the skip list's search from the top.
/// That is appending to a log (message, inbox and event logs: seq-ordered keys) and rewriting
/// a conversation's dedupe and read-cursor records (a sender's next client message id, the
/// same reader's cursor). Without hints for the last three, the skip list's search was ~14 %
/// of the loop thread at 8,000 msg/s; with them ~2 % (perf, docs/benchmarks.md). Only for
/// insert hints; it is not the families' prefix_extractor, so reads and files do not depend
/// on it.
/// Range deletions must not be hinted: RocksDB 7.8 keeps one hint table for a memtable's point
/// and range-deletion skip lists alike (MemTable::Add), so a range tombstone starting at a
/// hinted prefix would use a point list's hint in the range list and break it (a failed
/// assertion in store_test showed it). Only keys with a suffix after the tag are hinted, and
/// the event log's trim starts at the bare prefix.
class log_prefix_transform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "parley.log_prefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), prefix_size(key)};
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    if (key.size() < 2 || key.size() <= prefix_size(key)) return false;
    switch (static_cast<record>(key[prefix_size(key) - 1])) {
      case record::message:
      case record::inbox:
      case record::event:
      case record::dedupe:
      case record::read_cursor:
        return true;
      default:
        return false;
    }
  }

 private:
  static std::size_t prefix_size(const rocksdb::Slice& key) {
    const auto* b = reinterpret_cast<const unsigned char*>(key.data());
    return 2 + ((std::size_t{b[0]} << 8) | b[1]) + 1;
  }
};

/// Counts RocksDB's finished flushes and compactions, for the node's metrics: a rate far
/// above the write rate's share of the write buffer budget means tiny flushes (a flush storm,
/// see the arena block in store::open).
class job_counter final : public rocksdb::EventListener {
 public:
  void OnFlushCompleted(rocksdb::DB*, const rocksdb::FlushJobInfo&) override {
    flushes.fetch_add(1, std::memory_order_relaxed);
  }
  void OnCompactionCompleted(rocksdb::DB*, const rocksdb::CompactionJobInfo&) override {
    compactions.fetch_add(1, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> flushes{0};
  std::atomic<std::uint64_t> compactions{0};
};

std::string shard_cf_name(std::uint32_t shard) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%03u", shard);
  return buf;
}

std::string encode_meta(std::uint32_t shards) {
  capnp::MallocMessageBuilder message;
  auto meta = message.initRoot<records::StoreMeta>();
  meta.setFormatVersion(format_version);
  meta.setShardCount(shards);
  meta.setCreatedMs(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count()));
  auto flat = capnp::messageToFlatArray(message);
  auto bytes = flat.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

result<std::uint32_t> decode_meta_shards(const std::string& value) {
  if (value.size() % sizeof(capnp::word) != 0) return error(errc::corruption, "bad meta record");
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(value.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), value.data(), value.size());
  capnp::FlatArrayMessageReader reader(words);
  auto meta = reader.getRoot<records::StoreMeta>();
  if (meta.getFormatVersion() != format_version) {
    return error(errc::incompatible, "data dir format " + std::to_string(meta.getFormatVersion()) +
                                         ", this build reads format " +
                                         std::to_string(format_version));
  }
  return meta.getShardCount();
}

/// RocksDB's file system with one change: failures that go away by themselves (no descriptor
/// left, disk or quota full) are marked retryable. RocksDB then treats the background error
/// they cause as recoverable and DB::Resume() clears it once the cause is gone; unmarked, a
/// WAL file that could not be created while the descriptor table was full left the database
/// refusing every write until the process restarted.
class resilient_fs final : public rocksdb::FileSystemWrapper {
 public:
  explicit resilient_fs(std::shared_ptr<rocksdb::FileSystem> target)
      : FileSystemWrapper(std::move(target)) {}

  const char* Name() const override { return "ParleyResilientFileSystem"; }

  /// Marks `s` retryable if errno (set by the failed call) or its text says it is transient.
  static rocksdb::IOStatus classify(rocksdb::IOStatus s, int err) {
    if (s.ok() || s.GetRetryable()) return s;
    const std::string text = s.ToString();
    const bool transient = err == EMFILE || err == ENFILE || err == ENOSPC || err == EDQUOT ||
                           err == ENOMEM || s.IsNoSpace() ||
                           text.find("Too many open files") != std::string::npos;
    if (!transient) return s;
    // Disk full is reported as a plain retryable I/O error: RocksDB hands a NoSpace error to
    // its SstFileManager, which polls for free space every few seconds before anything can
    // resume (measured: writes refused for 5-10 s after space returned); a retryable error
    // resumes on the next write's DB::Resume().
    if (s.IsNoSpace()) s = rocksdb::IOStatus::IOError("No space left on device", text);
    s.SetRetryable(true);
    return s;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    errno = 0;
    auto s = target()->NewWritableFile(f, o, r, dbg);
    if (!s.ok()) return classify(std::move(s), errno);
    r->reset(new file(std::move(*r)));
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    errno = 0;
    auto s = target()->ReopenWritableFile(f, o, r, dbg);
    if (!s.ok()) return classify(std::move(s), errno);
    r->reset(new file(std::move(*r)));
    return s;
  }

 private:
  class file final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    explicit file(std::unique_ptr<rocksdb::FSWritableFile> f)
        : FSWritableFileOwnerWrapper(std::move(f)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      errno = 0;
      auto s = FSWritableFileOwnerWrapper::Append(d, o, dbg);
      return classify(std::move(s), errno);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* dbg) override {
      errno = 0;
      auto s = FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
      return classify(std::move(s), errno);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      errno = 0;
      auto s = FSWritableFileOwnerWrapper::Sync(o, dbg);
      return classify(std::move(s), errno);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      errno = 0;
      auto s = FSWritableFileOwnerWrapper::Fsync(o, dbg);
      return classify(std::move(s), errno);
    }
  };
};

/// A file system that fails writes while its fault_injector says so.
class faulty_fs final : public rocksdb::FileSystemWrapper {
 public:
  faulty_fs(std::shared_ptr<rocksdb::FileSystem> target, std::shared_ptr<fault_injector> faults)
      : FileSystemWrapper(std::move(target)), faults_(std::move(faults)) {}

  const char* Name() const override { return "ParleyFaultyFileSystem"; }

  rocksdb::IOStatus failure() const {
    switch (faults_->current()) {
      case fault_injector::fault::none:
        return rocksdb::IOStatus::OK();
      case fault_injector::fault::no_space:
        errno = ENOSPC;
        return rocksdb::IOStatus::NoSpace("injected: No space left on device");
      case fault_injector::fault::out_of_descriptors:
        errno = EMFILE;
        return rocksdb::IOStatus::IOError("injected: Too many open files");
      case fault_injector::fault::io_error:
      case fault_injector::fault::power_lost:
        break;
    }
    errno = EIO;
    return rocksdb::IOStatus::IOError("injected I/O error");
  }

  fault_injector& faults() const { return *faults_; }

  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (auto s = failure(); !s.ok()) return s;
    auto s = target()->RenameFile(from, to, o, dbg);
    if (s.ok()) faults_->renamed(from, to);
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override {
    if (auto s = failure(); !s.ok()) return s;
    auto s = target()->DeleteFile(f, o, dbg);
    if (s.ok()) faults_->removed(f);
    return s;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    if (auto s = failure(); !s.ok()) return s;
    std::unique_ptr<rocksdb::FSWritableFile> file;
    auto s = target()->NewWritableFile(f, o, &file, dbg);
    if (s.ok()) {
      faults_->appended(f, 0);  // a new file: nothing of it is on disk until synced
      r->reset(new faulty_file(std::move(file), f, *this));
    }
    return s;
  }

 private:
  class faulty_file final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    faulty_file(std::unique_ptr<rocksdb::FSWritableFile> f, std::string name, const faulty_fs& fs)
        : FSWritableFileOwnerWrapper(std::move(f)), name_(std::move(name)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (auto s = fs_.failure(); !s.ok()) return s;
      auto s = FSWritableFileOwnerWrapper::Append(d, o, dbg);
      if (s.ok()) fs_.faults().appended(name_, d.size());
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* dbg) override {
      if (auto s = fs_.failure(); !s.ok()) return s;
      auto s = FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
      if (s.ok()) fs_.faults().appended(name_, d.size());
      return s;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (auto s = fs_.failure(); !s.ok()) return s;
      auto s = FSWritableFileOwnerWrapper::Sync(o, dbg);
      if (s.ok()) fs_.faults().synced(name_);
      return s;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (auto s = fs_.failure(); !s.ok()) return s;
      auto s = FSWritableFileOwnerWrapper::Fsync(o, dbg);
      if (s.ok()) fs_.faults().synced(name_);
      return s;
    }
    rocksdb::IOStatus RangeSync(std::uint64_t off, std::uint64_t n, const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* dbg) override {
      // Only a hint to start writeback: it makes nothing durable, so it moves no mark.
      if (auto s = fs_.failure(); !s.ok()) return s;
      return FSWritableFileOwnerWrapper::RangeSync(off, n, o, dbg);
    }

   private:
    const std::string name_;
    const faulty_fs& fs_;
  };

  std::shared_ptr<fault_injector> faults_;
};

}  // namespace

void fault_injector::appended(const std::string& file, std::size_t bytes) {
  std::lock_guard<std::mutex> guard(mu_);
  files_[file].written += bytes;
}

void fault_injector::synced(const std::string& file) {
  std::lock_guard<std::mutex> guard(mu_);
  auto& f = files_[file];
  f.synced = f.written;
}

void fault_injector::renamed(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return;
  files_[to] = it->second;
  files_.erase(it);
}

void fault_injector::removed(const std::string& file) {
  std::lock_guard<std::mutex> guard(mu_);
  files_.erase(file);
}

std::uint64_t fault_injector::drop_unsynced() {
  std::lock_guard<std::mutex> guard(mu_);
  std::uint64_t dropped = 0;
  for (auto& [name, f] : files_) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(name, ec);
    if (ec || size <= f.synced) continue;
    std::filesystem::resize_file(name, f.synced, ec);
    if (!ec) dropped += size - f.synced;
    f.written = f.synced;
  }
  return dropped;
}

error create_private_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  if (ec) return {errc::io_error, "cannot create " + dir + ": " + ec.message()};
  return {};
}

void write_batch::append(write_batch&& other) {
  if (ops_.empty()) {
    ops_ = std::move(other.ops_);
    return;
  }
  ops_.reserve(ops_.size() + other.ops_.size());
  for (auto& op : other.ops_) ops_.push_back(std::move(op));
  other.ops_.clear();
}

struct store::impl {
  std::unique_ptr<rocksdb::Env> env;  // over resilient_fs; outlives db (declared first)
  std::unique_ptr<rocksdb::DB> db;
  // Set after a failed write: RocksDB refuses writes until DB::Resume() succeeds.
  mutable std::mutex write_error_mu;
  std::optional<std::string> write_error;
  std::string resume_error;  // why the last DB::Resume() failed
  std::chrono::steady_clock::time_point last_resume{};
  std::string dir;
  rocksdb::ColumnFamilyOptions cf_options;
  // Handles change only when a shard migrates; readers take the lock shared.
  mutable std::shared_mutex handles_mu;
  std::vector<rocksdb::ColumnFamilyHandle*> shards;  // index = shard id
  // Migration's operations on one shard (export, import, clear) run one at a time, and count
  // the imports, so that a clear of a copy that moved away can tell that the shard has come
  // back since (and must not be cleared).
  std::unique_ptr<std::mutex[]> shard_ops;
  std::vector<std::uint64_t> imports;  // by shard, under shard_ops[shard]
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  std::shared_ptr<rocksdb::WriteBufferManager> wbm;
  std::shared_ptr<job_counter> jobs = std::make_shared<job_counter>();
  std::uint64_t event_retention = 0;
  std::unique_ptr<event_sequencer> events;  // set once the db is open
  // The event bell: called for a shard whose readable events advanced while armed.
  std::function<void(std::uint32_t)> bell;
  std::unique_ptr<std::atomic<bool>[]> armed;  // per shard
  std::uint32_t armed_count = 0;

  void ring(std::uint32_t shard) {
    // A plain load first: this runs after every write with events, and mostly nobody waits.
    if (bell && shard < armed_count && armed[shard].load(std::memory_order_relaxed) &&
        armed[shard].exchange(false, std::memory_order_acq_rel)) {
      bell(shard);
    }
  }

  ~impl() {
    if (!db) return;
    // Flush what the memtables hold, so that the next start reads table files instead of
    // replaying the WAL (a restart with 1 M messages in the WAL took ~1.2 s, most of it
    // replay). Best effort: whatever is not flushed is still in the synced WAL.
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (auto* cf : shards) {
      if (cf) all.push_back(cf);
    }
    // Not while writes fail (a full disk): RocksDB would wait for a flush that cannot
    // succeed, and the node would never stop.
    if (!write_error) {
      rocksdb::FlushOptions flush;
      flush.wait = true;
      ignore(convert(db->Flush(flush, all)), "best effort: the WAL still holds it");
    }
    for (auto* cf : shards) {
      if (cf) db->DestroyColumnFamilyHandle(cf);
    }
    if (default_cf) db->DestroyColumnFamilyHandle(default_cf);
    db->Close();  // an error here cannot be acted on: the WAL is already synced per write
  }

  rocksdb::ColumnFamilyHandle* cf(std::uint32_t shard) const {
    std::shared_lock<std::shared_mutex> guard(handles_mu);
    return shard < shards.size() ? shards[shard] : nullptr;
  }

  /// Whether the family holds no live key (tombstones aside).
  bool empty(rocksdb::ColumnFamilyHandle* family) const {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
    it->SeekToFirst();
    return !it->Valid() && it->status().ok();
  }

  /// clear_shard's work; the caller holds shard_ops[shard].
  error clear(std::uint32_t shard) {
    auto* old = cf(shard);
    if (empty(old)) return {};
    auto s = db->DropColumnFamily(old);
    if (!s.ok()) return convert(s);
    rocksdb::ColumnFamilyHandle* fresh = nullptr;
    s = db->CreateColumnFamily(cf_options, shard_cf_name(shard), &fresh);
    if (!s.ok()) return convert(s);
    replace(shard, fresh);
    db->DestroyColumnFamilyHandle(old);
    events->forget(shard);
    return {};
  }

  /// Puts `fresh` in the place of the shard's handle (its callers have found the shard).
  void replace(std::uint32_t shard, rocksdb::ColumnFamilyHandle* fresh) {
    std::unique_lock<std::shared_mutex> guard(handles_mu);
    shards.at(shard) = fresh;
  }
};

store::store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
store::~store() = default;

result<std::unique_ptr<store>> store::open(const options& opts) {
  if (opts.dir.empty()) return error(errc::invalid_argument, "no data dir given");
  std::error_code ec;
  const bool exists = std::filesystem::exists(std::filesystem::path(opts.dir) / "CURRENT", ec);
  if (!exists && !opts.create_if_missing) {
    return error(errc::not_found, "no Parley data dir at " + opts.dir);
  }
  if (!exists && opts.shard_count == 0) {
    return error(errc::invalid_argument, "shard count must be at least 1");
  }
  if (auto err = create_private_dir(opts.dir)) return err;

  auto p = std::make_unique<impl>();
  p->wbm = std::make_shared<rocksdb::WriteBufferManager>(opts.write_buffer_budget);

  rocksdb::DBOptions db_opts;
  {
    std::shared_ptr<rocksdb::FileSystem> fs = rocksdb::FileSystem::Default();
    if (opts.faults) fs = std::make_shared<faulty_fs>(std::move(fs), opts.faults);
    p->env = rocksdb::NewCompositeEnv(std::make_shared<resilient_fs>(std::move(fs)));
    db_opts.env = p->env.get();
  }
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  db_opts.write_buffer_manager = p->wbm;
  db_opts.listeners.push_back(p->jobs);
  db_opts.max_open_files = 512;  // a node process also needs descriptors for its sockets
  db_opts.IncreaseParallelism(2);
  // RocksDB's flush and compaction threads share the cores of the node's loop threads (a node
  // pinned to one core shares that core with them). At normal priority a memtable flush took
  // the loop's core for tens of milliseconds: 1:1 in memory at 4,000 msg/s on one core, p99
  // 46 ms median and up to 442 ms over 12 runs; with both pools at nice 19, 10 ms median and
  // up to 39 ms (docs/benchmarks.md). They still get every idle cycle, and under overload a
  // flush that falls behind stalls writes, which is back-pressure anyway. Process-wide (the
  // default Env's pools, which every store of the process shares); a pool thread takes the
  // priority when it next starts a job. Linux supports it; elsewhere it is a no-op.
  for (auto pool : {rocksdb::Env::Priority::HIGH, rocksdb::Env::Priority::LOW}) {
    (void)rocksdb::Env::Default()->LowerThreadPoolCPUPriority(pool, rocksdb::CpuPriority::kLow);
  }
  // RocksDB opens each family's table files with up to 16 threads of its own (default),
  // started and joined per family: with 64 families that is ~2,000 threads per open, which
  // made a restart of an empty node take ~0.6 s instead of ~0.2 s. One is enough.
  db_opts.max_file_opening_threads = 1;
  // Recovery after a write error is ours (resume_if_failed, on the next write). RocksDB's own
  // retries of a failed flush went on for ever while the disk stayed full, and Close() waited
  // for them: a node stopped with a full disk never ended.
  db_opts.max_bgerror_resume_count = 0;
  // After a crash the WAL is replayed; RocksDB keeps a WAL file until every family with data
  // in it has flushed, so with 64 families the WAL could grow to 4 x their write buffers
  // (1 GiB, seconds of replay). At the write buffer budget, the families holding the oldest
  // WAL file are flushed instead.
  db_opts.max_total_wal_size = opts.write_buffer_budget;

  rocksdb::ColumnFamilyOptions cf_opts;
  cf_opts.write_buffer_size = opts.write_buffer_per_shard;
  // A memtable takes memory from the write buffer budget an arena block at a time, and
  // RocksDB's default block is an eighth of the write buffer (512 KiB here). With 64 families
  // the memtables held 34 MB of the 64 MiB budget with ~7 MB of data in them, so the budget ran
  // out with about 1 MB of data per family; then every write switched another family's
  // memtable, each new memtable reserved a fresh block before the flushes freed the old ones,
  // and the budget stayed spent: a flush storm. 1:1 traffic over 1,000 conversations at 6,000
  // msg/s in memory made 1,201 flushes and 184 compactions in 30 s (tiny files), took 131-134 us
  // of the node's core per message and had a p99 of 7-10 ms. With 64 KiB blocks: 66 flushes, no
  // compaction, 97-102 us, p99 1.3-4 ms (docs/benchmarks.md, "Memtable blocks").
  cf_opts.arena_block_size = memtable_block_bytes;
  // The per-message hot path spent ~17 % of the server's CPU in the memtable's skip list
  // (perf, docs/benchmarks.md): a search from the top for every insert, and a full search for
  // every read of a key that is not there (a send's dedupe check). Insert hints per log and a
  // bloom filter over the memtable's keys cut both.
  cf_opts.memtable_insert_with_hint_prefix_extractor = std::make_shared<log_prefix_transform>();
  cf_opts.memtable_prefix_bloom_size_ratio = 0.01;  // ~10 bits a key in a full memtable
  cf_opts.memtable_whole_key_filtering = true;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::uint32_t shards = opts.shard_count;
  if (exists) {
    // Read the recorded shard count first: it decides which column families to open.
    std::vector<std::string> names;
    auto s = rocksdb::DB::ListColumnFamilies(db_opts, opts.dir, &names);
    if (!s.ok()) return convert(s);
    std::unique_ptr<rocksdb::DB> ro;
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (auto& n : names) descs.emplace_back(n, cf_opts);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    s = rocksdb::DB::OpenForReadOnly(db_opts, opts.dir, descs, &handles, &raw);
    if (!s.ok()) return convert(s);
    ro.reset(raw);
    std::string value;
    s = ro->Get(rocksdb::ReadOptions(), rocksdb::Slice(meta_key.data(), meta_key.size()), &value);
    for (auto* h : handles) ro->DestroyColumnFamilyHandle(h);
    ro.reset();
    if (!s.ok()) return error(errc::incompatible, opts.dir + " is not a Parley data dir");
    auto recorded = decode_meta_shards(value);
    if (!recorded) return recorded.error();
    shards = *recorded;
  }

  // A fresh dir opens with the default family and creates the shards' in one call: DB::Open
  // with create_missing_column_families creates them one by one, rewriting and re-parsing the
  // OPTIONS file each time (quadratic: ~1 s of CPU for 64 shards).
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_opts);
  std::vector<std::string> shard_names;
  for (std::uint32_t i = 0; i < shards; ++i) shard_names.push_back(shard_cf_name(i));
  if (exists) {
    for (auto& n : shard_names) descs.emplace_back(n, cf_opts);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(db_opts, opts.dir, descs, &handles, &raw);
  if (!s.ok()) return convert(s);
  p->db.reset(raw);
  if (!exists) {
    std::vector<rocksdb::ColumnFamilyHandle*> created;
    s = p->db->CreateColumnFamilies(cf_opts, shard_names, &created);
    if (!s.ok()) {
      for (auto* h : handles) p->db->DestroyColumnFamilyHandle(h);
      for (auto* h : created) p->db->DestroyColumnFamilyHandle(h);
      return convert(s);
    }
    handles.insert(handles.end(), created.begin(), created.end());
  }
  p->dir = opts.dir;
  p->cf_options = cf_opts;
  p->event_retention = std::max<std::uint64_t>(opts.event_retention, 1024);
  p->default_cf = handles[0];
  p->shards.assign(handles.begin() + 1, handles.end());
  p->shard_ops = std::make_unique<std::mutex[]>(p->shards.size());
  p->imports.assign(p->shards.size(), 0);

  if (!exists) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = p->db->Put(wo, p->default_cf, rocksdb::Slice(meta_key.data(), meta_key.size()),
                   encode_meta(shards));
    if (!s.ok()) return convert(s);
  }
  p->armed_count = static_cast<std::uint32_t>(p->shards.size());
  p->armed = std::make_unique<std::atomic<bool>[]>(p->armed_count);
  std::unique_ptr<store> opened(new store(std::move(p)));
  auto* self = opened.get();
  opened->impl_->events = std::make_unique<event_sequencer>([self](std::uint32_t shard) {
    const std::string owner = event_log_owner(shard);
    auto last = self->scan(shard, record_prefix(owner, record::event),
                           prefix_end(record_prefix(owner, record::event)), 1, direction::backward);
    if (!last) return result<std::uint64_t>(last.error());
    return result<std::uint64_t>(last->empty() ? 0 : seq_of_key(last->front().key));
  });
  return opened;
}

std::uint32_t store::shard_count() const {
  std::shared_lock<std::shared_mutex> guard(impl_->handles_mu);
  return static_cast<std::uint32_t>(impl_->shards.size());
}

namespace {

std::string temp_path(const std::string& base, const std::string& what) {
  std::random_device rd;
  return base + "/" + what + "-" + std::to_string(rd()) + std::to_string(rd());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

error store::checkpoint(const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  auto s = rocksdb::Checkpoint::Create(impl_->db.get(), &raw);
  if (!s.ok()) return convert(s);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  s = checkpoint->CreateCheckpoint(dir);
  if (!s.ok()) return convert(s);
  return {};
}

result<shard_export> store::export_shard(std::uint32_t shard) {
  if (!impl_->cf(shard)) return error(errc::invalid_argument, "no shard " + std::to_string(shard));
  std::lock_guard<std::mutex> guard(impl_->shard_ops[shard]);
  auto* cf = impl_->cf(shard);  // read under the lock: an import may have replaced it
  if (impl_->empty(cf)) return shard_export{impl_->cf_options.comparator->Name(), {}};
  rocksdb::FlushOptions flush;
  flush.wait = true;
  auto s = impl_->db->Flush(flush, cf);
  if (!s.ok()) return convert(s);
  rocksdb::Checkpoint* raw = nullptr;
  s = rocksdb::Checkpoint::Create(impl_->db.get(), &raw);
  if (!s.ok()) return convert(s);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  const std::string dir = temp_path(impl_->dir, "export");  // must not exist yet
  rocksdb::ExportImportFilesMetaData* meta_raw = nullptr;
  s = checkpoint->ExportColumnFamily(cf, dir, &meta_raw);
  if (!s.ok()) return convert(s);
  std::unique_ptr<rocksdb::ExportImportFilesMetaData> meta(meta_raw);
  shard_export out;
  out.comparator = meta->db_comparator_name;
  for (auto& f : meta->files) {
    exported_file e;
    e.name = f.name;
    while (!e.name.empty() && e.name.front() == '/') e.name.erase(0, 1);
    e.bytes = read_file(dir + "/" + e.name);
    e.level = f.level;
    e.smallest_seqno = f.smallest_seqno;
    e.largest_seqno = f.largest_seqno;
    e.smallest_key = f.smallestkey;
    e.largest_key = f.largestkey;
    out.files.push_back(std::move(e));
  }
  std::error_code ignored;  // a leftover export dir only costs disk space
  std::filesystem::remove_all(dir, ignored);
  return out;
}

std::uint64_t store::imports_of(std::uint32_t shard) const {
  if (!impl_->cf(shard)) return 0;
  std::lock_guard<std::mutex> guard(impl_->shard_ops[shard]);
  return impl_->imports[shard];
}

error store::import_shard(std::uint32_t shard, const shard_export& data) {
  if (!impl_->cf(shard)) return {errc::invalid_argument, "no shard " + std::to_string(shard)};
  std::lock_guard<std::mutex> guard(impl_->shard_ops[shard]);
  auto* old = impl_->cf(shard);  // read under the lock: a clear may have replaced it
  ++impl_->imports[shard];
  if (data.files.empty()) return impl_->clear(shard);
  const std::string dir = temp_path(impl_->dir, "import");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return {errc::io_error, "cannot create " + dir + ": " + ec.message()};
  rocksdb::ExportImportFilesMetaData meta;
  meta.db_comparator_name = data.comparator;
  for (auto& f : data.files) {
    std::ofstream file(dir + "/" + f.name, std::ios::binary);
    file << f.bytes;
    file.close();
    if (!file) {
      std::filesystem::remove_all(dir, ec);
      return {errc::io_error, "cannot write the imported file " + dir + "/" + f.name};
    }
    rocksdb::LiveFileMetaData lf;
    lf.name = "/" + f.name;
    lf.db_path = dir;
    lf.level = f.level;
    lf.smallest_seqno = f.smallest_seqno;
    lf.largest_seqno = f.largest_seqno;
    lf.smallestkey = f.smallest_key;
    lf.largestkey = f.largest_key;
    lf.column_family_name = shard_cf_name(shard);
    meta.files.push_back(lf);
  }
  // The family keeps its name: drop the (empty) one in place, then import under that name.
  auto s = impl_->db->DropColumnFamily(old);
  if (!s.ok()) return convert(s);
  rocksdb::ImportColumnFamilyOptions import;
  import.move_files = true;
  rocksdb::ColumnFamilyHandle* fresh = nullptr;
  s = impl_->db->CreateColumnFamilyWithImport(impl_->cf_options, shard_cf_name(shard), import, meta,
                                              &fresh);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (!s.ok()) return convert(s);
  impl_->replace(shard, fresh);
  impl_->db->DestroyColumnFamilyHandle(old);
  impl_->events->forget(shard);  // count on from the imported log
  return {};
}

error store::clear_shard(std::uint32_t shard, std::optional<std::uint64_t> unless_imported_since) {
  if (!impl_->cf(shard)) return {errc::invalid_argument, "no shard " + std::to_string(shard)};
  std::lock_guard<std::mutex> guard(impl_->shard_ops[shard]);
  if (unless_imported_since && impl_->imports[shard] != *unless_imported_since) return {};
  return impl_->clear(shard);
}

store::engine_figures store::figures() const {
  engine_figures f;
  auto& db = *impl_->db;
  auto sum = [&](const std::string& name) {
    std::uint64_t v = 0;
    return db.GetAggregatedIntProperty(name, &v) ? v : 0;
  };
  f.memtable_bytes = sum(rocksdb::DB::Properties::kCurSizeAllMemTables);
  f.flushes = impl_->jobs->flushes.load(std::memory_order_relaxed);
  f.compactions = impl_->jobs->compactions.load(std::memory_order_relaxed);
  f.pending_compaction_bytes = sum(rocksdb::DB::Properties::kEstimatePendingCompactionBytes);
  std::uint64_t v = 0;
  if (db.GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &v)) {
    f.running_compactions = v;
  }
  if (db.GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &v)) f.writes_stopped = v != 0;
  if (db.GetIntProperty(rocksdb::DB::Properties::kActualDelayedWriteRate, &v)) {
    f.delayed_write_rate = v;
  }
  return f;
}

std::uint64_t store::count_keys(std::uint32_t shard) const {
  auto* cf = impl_->cf(shard);
  if (!cf) return 0;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), cf));
  std::uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

result<std::optional<std::string>> store::get(std::uint32_t shard, std::string_view key) const {
  auto* cf = impl_->cf(shard);
  if (!cf) return error(errc::invalid_argument, "no shard " + std::to_string(shard));
  std::string value;
  auto s =
      impl_->db->Get(rocksdb::ReadOptions(), cf, rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return convert(s);
  return std::optional<std::string>{std::move(value)};
}

result<std::uint64_t> store::count(std::uint32_t shard, std::string_view begin,
                                   std::string_view end, std::uint64_t limit) const {
  auto* cf = impl_->cf(shard);
  if (!cf) return error(errc::invalid_argument, "no shard " + std::to_string(shard));
  rocksdb::Slice lower(begin.data(), begin.size());
  rocksdb::Slice upper(end.data(), end.size());
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, cf));
  std::uint64_t n = 0;
  for (it->Seek(lower); it->Valid() && n < limit; it->Next()) ++n;
  if (!it->status().ok()) return convert(it->status());
  return n;
}

result<std::vector<entry>> store::scan(std::uint32_t shard, std::string_view begin,
                                       std::string_view end, std::size_t limit,
                                       direction dir) const {
  auto* cf = impl_->cf(shard);
  if (!cf) return error(errc::invalid_argument, "no shard " + std::to_string(shard));
  rocksdb::Slice lower(begin.data(), begin.size());
  rocksdb::Slice upper(end.data(), end.size());
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, cf));
  std::vector<entry> out;
  if (dir == direction::forward) {
    for (it->Seek(lower); it->Valid() && out.size() < limit; it->Next()) {
      out.push_back({it->key().ToString(), it->value().ToString()});
    }
  } else {
    if (end.empty())
      it->SeekToLast();
    else
      it->SeekForPrev(upper);
    // SeekForPrev lands on `end` itself when present; the range is half-open.
    if (it->Valid() && !end.empty() && it->key() == upper) it->Prev();
    for (; it->Valid() && out.size() < limit; it->Prev()) {
      out.push_back({it->key().ToString(), it->value().ToString()});
    }
  }
  if (!it->status().ok()) return convert(it->status());
  return out;
}

error store::write(const write_batch& batch, durability d) {
  if (auto refused = resume_if_failed()) return refused;
  // Events: number them per shard now (in the order writers get here), settle when written.
  std::map<std::uint32_t, std::pair<std::uint64_t, std::size_t>> numbered;  // first, count
  for (const auto& op : batch.ops()) {
    if (op.event) ++numbered[op.shard].second;
  }
  for (auto& [shard, range] : numbered) {
    auto first = impl_->events->take(shard, range.second);
    if (!first) {
      for (auto& [s, r] : numbered) {
        if (s == shard) break;
        impl_->events->settle(s, r.first, r.second);
      }
      return first.error();
    }
    range.first = *first;
  }
  struct settle_on_exit {
    impl& db;
    const std::map<std::uint32_t, std::pair<std::uint64_t, std::size_t>>& ranges;
    ~settle_on_exit() {
      for (auto& [shard, r] : ranges) db.events->settle(shard, r.first, r.second);
      for (auto& [shard, r] : ranges) db.ring(shard);
    }
  } settle{*impl_, numbered};

  rocksdb::WriteBatch wb;
  auto next_event = numbered;  // the next seq per shard, as ops are added
  for (const auto& op : batch.ops()) {
    auto* cf = impl_->cf(op.shard);
    if (!cf) return {errc::invalid_argument, "no shard " + std::to_string(op.shard)};
    rocksdb::Status s;
    if (op.event) {
      const std::uint64_t seq = next_event[op.shard].first++;
      const std::string owner = event_log_owner(op.shard);
      s = wb.Put(cf, seq_key(owner, record::event, seq), op.value);
      // Past the retention, trim in steps of 1024 events (one range delete each, from the
      // bare prefix: see log_prefix_transform).
      if (s.ok() && seq > impl_->event_retention && seq % 1024 == 0) {
        s = wb.DeleteRange(cf, record_prefix(owner, record::event),
                           seq_key(owner, record::event, seq - impl_->event_retention));
      }
    } else {
      s = op.erase ? wb.Delete(cf, op.key) : wb.Put(cf, op.key, op.value);
    }
    if (!s.ok()) return convert(s);
  }
  rocksdb::WriteOptions wo;
  wo.sync = d == durability::synced;
  auto s = impl_->db->Write(wo, &wb);
  if (!s.ok() && (s.IsIOError() || s.IsNoSpace())) {
    std::lock_guard<std::mutex> guard(impl_->write_error_mu);
    if (!impl_->write_error) {
      log::error("storage_write_failed",
                 {{"detail", s.ToString()}, {"action", "refusing writes until it recovers"}});
    }
    impl_->write_error = s.ToString();
    impl_->last_resume = std::chrono::steady_clock::now();
  }
  return convert(s);
}

void store::on_new_events(std::function<void(std::uint32_t shard)> bell) {
  impl_->bell = std::move(bell);
}

void store::arm_event_bell(std::uint32_t shard) {
  if (shard < impl_->armed_count) impl_->armed[shard].store(true, std::memory_order_release);
}

result<event_page> store::read_events(std::uint32_t shard, std::uint64_t after, std::size_t limit) {
  auto readable = impl_->events->readable(shard);
  if (!readable) return readable.error();
  event_page page;
  page.readable = *readable;
  page.through = std::min(after, *readable);
  if (after >= *readable || limit == 0) return page;
  const std::string owner = event_log_owner(shard);
  // Past the trimmed ones at once; holes (failed writes) are skipped by the range read.
  auto oldest = scan(shard, seq_key(owner, record::event, after + 1),
                     seq_key(owner, record::event, *readable + 1), 1);
  if (!oldest) return oldest.error();
  if (oldest->empty()) {
    page.through = *readable;
    return page;
  }
  const std::uint64_t from = seq_of_key(oldest->front().key);
  page.through = std::min<std::uint64_t>(*readable, from - 1 + limit);
  auto found = scan(shard, seq_key(owner, record::event, from),
                    seq_key(owner, record::event, page.through + 1), limit);
  if (!found) return found.error();
  for (auto& e : *found) page.events.push_back({seq_of_key(e.key), std::move(e.value)});
  return page;
}

error store::resume_if_failed() {
  std::lock_guard<std::mutex> guard(impl_->write_error_mu);
  if (!impl_->write_error) return {};
  const auto now = std::chrono::steady_clock::now();
  if (now - impl_->last_resume >= std::chrono::milliseconds(100)) {
    impl_->last_resume = now;
    auto s = impl_->db->Resume();
    if (s.ok()) {
      log::info("storage_recovered", {{"action", "writes accepted again"}});
      impl_->write_error.reset();
      impl_->resume_error.clear();
      return {};
    }
    if (s.ToString() != impl_->resume_error) {  // once per distinct reason
      impl_->resume_error = s.ToString();
      log::warn("storage_resume_failed", {{"detail", impl_->resume_error}});
    }
  }
  return {errc::io_error, "writes refused after a storage error: " + *impl_->write_error};
}

std::optional<std::string> store::write_error() const {
  std::lock_guard<std::mutex> guard(impl_->write_error_mu);
  return impl_->write_error;
}

namespace {

const char* store_code_name(std::uint8_t code) {
  switch (static_cast<errc>(code)) {
    case errc::not_found:
      return "not_found";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::incompatible:
      return "incompatible";
    case errc::io_error:
      return "io_error";
    case errc::corruption:
      return "corruption";
    case errc::busy:
      return "busy";
    case errc::shutting_down:
      return "shutting_down";
  }
  return "unknown";
}

bool store_retriable(std::uint8_t code) {
  const auto c = static_cast<errc>(code);
  return c == errc::io_error || c == errc::busy || c == errc::shutting_down;
}

constexpr error_category store_category{"store", &store_code_name, &store_retriable};

}  // namespace

const error_category& category_of(errc) {
  return store_category;
}

}  // namespace parley::store
