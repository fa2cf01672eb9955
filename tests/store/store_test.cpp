// store/: key layout, open/reopen, shard isolation, the seq log.
#define BOOST_TEST_MODULE store
#include <boost/test/unit_test.hpp>

#include "parley/store/keys.hpp"
#include "parley/store/seq_log.hpp"
#include "parley/store/store.hpp"
#include "parley/testing/support.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace parley;

namespace {

std::unique_ptr<store::store> open_store(const std::string& dir, std::uint32_t shards = 8) {
  store::options o;
  o.dir = dir;
  o.shard_count = shards;
  auto s = store::store::open(o);
  BOOST_TEST_REQUIRE(s.ok(), (s.ok() ? "" : s.error().message()));
  return std::move(*s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(key_layout)

BOOST_AUTO_TEST_CASE(an_entity_range_excludes_ids_that_extend_it) {
  const std::string begin = store::entity_prefix("user/al");
  const std::string end = store::prefix_end(begin);
  const std::string other = store::seq_key("user/alice", store::record::inbox, 1);
  BOOST_TEST(!(other >= begin && other < end));
  const std::string own = store::seq_key("user/al", store::record::inbox, 1);
  BOOST_TEST((own >= begin && own < end));
}

BOOST_AUTO_TEST_CASE(seq_keys_sort_numerically) {
  const auto k9 = store::seq_key("conv/dm/a/b", store::record::message, 9);
  const auto k10 = store::seq_key("conv/dm/a/b", store::record::message, 10);
  const auto k256 = store::seq_key("conv/dm/a/b", store::record::message, 256);
  BOOST_TEST(k9 < k10);
  BOOST_TEST(k10 < k256);
  BOOST_TEST(store::seq_of_key(k256) == 256u);
}

BOOST_AUTO_TEST_CASE(u64_round_trips) {
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1} << 40, UINT64_MAX}) {
    BOOST_TEST(store::decode_u64(store::encode_u64(v)) == v);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(store_open)

BOOST_AUTO_TEST_CASE(writes_survive_reopen_and_shards_are_isolated) {
  testing::temp_dir dir;
  {
    auto db = open_store(dir.path());
    BOOST_TEST(db->shard_count() == 8u);
    store::write_batch b;
    b.put(3, "k", "in-three");
    b.put(5, "k", "in-five");
    BOOST_TEST(db->write(b, store::durability::synced).ok());
  }
  auto db = open_store(dir.path(), 0);  // 0: take the recorded count
  BOOST_TEST(db->shard_count() == 8u);
  auto three = db->get(3, "k");
  auto five = db->get(5, "k");
  auto four = db->get(4, "k");
  BOOST_TEST_REQUIRE(three.ok());
  BOOST_TEST(**three == "in-three");
  BOOST_TEST(**five == "in-five");
  BOOST_TEST(!four->has_value());
}

BOOST_AUTO_TEST_CASE(the_recorded_shard_count_wins_over_options) {
  testing::temp_dir dir;
  { open_store(dir.path(), 4); }
  auto db = open_store(dir.path(), 64);
  BOOST_TEST(db->shard_count() == 4u);
}

BOOST_AUTO_TEST_CASE(a_foreign_directory_is_refused) {
  testing::temp_dir dir;
  store::options o;
  o.dir = dir.path() + "/missing";
  o.create_if_missing = false;
  auto s = store::store::open(o);
  BOOST_TEST_REQUIRE(!s.ok());
  BOOST_TEST(static_cast<int>(s.error().code()) == static_cast<int>(store::errc::not_found));
}

BOOST_AUTO_TEST_CASE(an_unknown_shard_is_an_error_not_a_crash) {
  testing::temp_dir dir;
  auto db = open_store(dir.path(), 2);
  auto r = db->get(7, "k");
  BOOST_TEST(!r.ok());
  store::write_batch b;
  b.put(9, "k", "v");
  BOOST_TEST(!db->write(b, store::durability::synced).ok());
}

/// The nice value of each of this process's threads named `name`.
std::vector<int> nice_of_threads(const std::string& name) {
  std::vector<int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    std::getline(comm, thread_name);
    if (thread_name != name) continue;
    std::ifstream stat_file(task.path() / "stat");
    std::string stat;
    std::getline(stat_file, stat);
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // from field 3, the state
    std::string skipped;
    for (int i = 3; i < 19; ++i) fields >> skipped;  // state .. priority
    int nice = 0;
    fields >> nice;  // field 19
    out.push_back(nice);
  }
  return out;
}

BOOST_AUTO_TEST_CASE(flush_threads_run_at_the_lowest_priority) {
  testing::temp_dir dir;
  auto db = open_store(dir.path(), 2);
  store::write_batch b;
  b.put(1, "k", "v");
  BOOST_TEST_REQUIRE(db->write(b, store::durability::buffered).ok());
  BOOST_TEST_REQUIRE(db->checkpoint(dir.path() + "/copy").ok());  // flushes the memtable first
  const auto nice = nice_of_threads("rocksdb:high");
  BOOST_TEST_REQUIRE(!nice.empty());
  for (int n : nice) BOOST_TEST(n == 19);
}

/// Memtables take the write buffer budget a block at a time: with RocksDB's default block (an
/// eighth of the write buffer) 64 families held over 16 MiB of the 64 MiB budget as soon as
/// each had a key (34 MB with a few MB of data), and traffic spread over all of them set off a
/// flush storm (store.cpp, store::open).
BOOST_AUTO_TEST_CASE(a_key_in_every_shard_takes_little_of_the_write_buffer_budget) {
  testing::temp_dir dir;
  auto db = open_store(dir.path(), 64);
  store::write_batch b;
  for (std::uint32_t shard = 0; shard < 64; ++shard) b.put(shard, "k", "v");
  BOOST_TEST_REQUIRE(db->write(b, store::durability::buffered).ok());
  const std::uint64_t held = db->figures().memtable_bytes;
  BOOST_TEST_MESSAGE("memtables of 64 shards with a key each: " << held << " bytes");
  BOOST_TEST(held < (16u << 20));
}

BOOST_AUTO_TEST_CASE(finished_flushes_are_counted) {
  testing::temp_dir dir;
  auto db = open_store(dir.path(), 2);
  BOOST_TEST(db->figures().flushes == 0u);
  store::write_batch b;
  b.put(1, "k", "v");
  BOOST_TEST_REQUIRE(db->write(b, store::durability::buffered).ok());
  // A checkpoint flushes every family with data first: the default one (the store's meta
  // record, written when it was created) and shard 1. The count is kept by RocksDB's
  // background thread, after the flush is installed, so it may come just after.
  BOOST_TEST_REQUIRE(db->checkpoint(dir.path() + "/copy1").ok());
  BOOST_TEST(testing::wait_until([&] { return db->figures().flushes == 2u; }));
  BOOST_TEST_REQUIRE(db->write(b, store::durability::buffered).ok());
  BOOST_TEST_REQUIRE(db->checkpoint(dir.path() + "/copy2").ok());  // shard 1 only
  BOOST_TEST(testing::wait_until([&] { return db->figures().flushes == 3u; }));
  BOOST_TEST(db->figures().compactions == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(shard_migration)

BOOST_AUTO_TEST_CASE(a_shard_exported_from_one_store_imports_into_another) {
  testing::temp_dir a_dir, b_dir;
  auto a = open_store(a_dir.path(), 4);
  auto b = open_store(b_dir.path(), 4);
  store::seq_log log(*a, 1, "conv/dm/x/y", store::record::message);
  store::write_batch batch;
  for (std::uint64_t seq = 1; seq <= 1000; ++seq) log.append(batch, seq, "m" + std::to_string(seq));
  batch.put(2, "other-shard", "stays");
  BOOST_TEST(a->write(batch, store::durability::synced).ok());

  auto exported = a->export_shard(1);
  BOOST_TEST_REQUIRE(exported.ok(), (exported.ok() ? "" : exported.error().message()));
  BOOST_TEST(!exported->files.empty());
  BOOST_TEST(b->import_shard(1, *exported).ok());
  store::seq_log moved(*b, 1, "conv/dm/x/y", store::record::message);
  BOOST_TEST(*moved.last_seq() == 1000u);
  BOOST_TEST(**moved.at(500) == "m500");
  BOOST_TEST(b->count_keys(1) == 1000u);
  BOOST_TEST(b->count_keys(2) == 0u);

  // The source forgets the shard; its other shards are untouched; both stores still write.
  BOOST_TEST(a->clear_shard(1).ok());
  BOOST_TEST(a->count_keys(1) == 0u);
  BOOST_TEST(**a->get(2, "other-shard") == "stays");
  store::write_batch more;
  moved.append(more, 1001, "m1001");
  BOOST_TEST(b->write(more, store::durability::synced).ok());
  BOOST_TEST(*moved.last_seq() == 1001u);
}

BOOST_AUTO_TEST_CASE(the_old_copy_is_not_cleared_once_the_shard_has_come_back) {
  testing::temp_dir a_dir, b_dir;
  auto a = open_store(a_dir.path(), 2);
  auto b = open_store(b_dir.path(), 2);
  store::write_batch batch;
  batch.put(1, "k", "a's");
  BOOST_TEST(a->write(batch, store::durability::synced).ok());
  // a gives shard 1 to b, noting its imports first...
  const std::uint64_t before = a->imports_of(1);
  auto out = a->export_shard(1);
  BOOST_TEST_REQUIRE(out.ok());
  BOOST_TEST(b->import_shard(1, *out).ok());
  // ... b writes and gives it straight back, before a got round to clearing its copy.
  store::write_batch on_b;
  on_b.put(1, "k2", "b's");
  BOOST_TEST(b->write(on_b, store::durability::synced).ok());
  auto back = b->export_shard(1);
  BOOST_TEST_REQUIRE(back.ok());
  BOOST_TEST(a->import_shard(1, *back).ok());
  BOOST_TEST(a->imports_of(1) == before + 1);
  // The late clear of the copy that left must not drop what came back.
  BOOST_TEST(a->clear_shard(1, before).ok());
  BOOST_TEST(a->count_keys(1) == 2u);
  BOOST_TEST(**a->get(1, "k2") == "b's");
  // Without a shard coming back, the same clear does clear.
  BOOST_TEST(b->clear_shard(1, b->imports_of(1)).ok());
  BOOST_TEST(b->count_keys(1) == 0u);
}

BOOST_AUTO_TEST_CASE(an_imported_shard_survives_reopen) {
  testing::temp_dir a_dir, b_dir;
  {
    auto a = open_store(a_dir.path(), 2);
    auto b = open_store(b_dir.path(), 2);
    store::write_batch batch;
    batch.put(0, "k", "v");
    BOOST_TEST(a->write(batch, store::durability::synced).ok());
    auto exported = a->export_shard(0);
    BOOST_TEST_REQUIRE(exported.ok());
    BOOST_TEST(b->import_shard(0, *exported).ok());
  }
  auto b = open_store(b_dir.path(), 0);
  BOOST_TEST(**b->get(0, "k") == "v");
}

BOOST_AUTO_TEST_CASE(an_empty_shard_moves_as_nothing) {
  testing::temp_dir a_dir, b_dir;
  auto a = open_store(a_dir.path(), 2);
  auto b = open_store(b_dir.path(), 2);
  auto exported = a->export_shard(1);
  BOOST_TEST_REQUIRE(exported.ok());
  BOOST_TEST(b->import_shard(1, *exported).ok());
  BOOST_TEST(b->count_keys(1) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(storage_faults)

/// A 4-shard store in `dir` whose file writes go through `faults`.
store::options faulty_store_options(const testing::temp_dir& dir,
                                    std::shared_ptr<store::fault_injector> faults) {
  store::options o;
  o.dir = dir.path();
  o.shard_count = 4;
  o.faults = std::move(faults);
  return o;
}

BOOST_AUTO_TEST_CASE(writes_recover_after_a_failed_write_once_the_disk_is_back) {
  for (auto kind :
       {store::fault_injector::fault::out_of_descriptors, store::fault_injector::fault::no_space}) {
    testing::temp_dir dir;
    auto faults = std::make_shared<store::fault_injector>();
    const auto o = faulty_store_options(dir, faults);
    auto db = std::move(*store::store::open(o));
    store::seq_log log(*db, 1, "conv/dm/a/b", store::record::message);
    store::write_batch first;
    log.append(first, 1, "one");
    BOOST_TEST_REQUIRE(db->write(first, store::durability::synced).ok());

    faults->set(kind);
    store::write_batch second;
    log.append(second, 2, "two");
    auto failed = db->write(second, store::durability::synced);
    BOOST_TEST(!failed.ok());
    BOOST_TEST(failed.retriable());
    BOOST_TEST(db->write_error().has_value());
    BOOST_TEST(*log.last_seq() == 1u);  // reads go on

    // The disk is back: writes are accepted again without a restart (RocksDB's background
    // error used to refuse every later write until the process restarted).
    faults->set(store::fault_injector::fault::none);
    bool recovered = testing::wait_until([&] {
      store::write_batch retry;
      log.append(retry, 2, "two");
      return db->write(retry, store::durability::synced).ok();
    });
    BOOST_TEST(recovered);
    BOOST_TEST(!db->write_error().has_value());
    BOOST_TEST(*log.last_seq() == 2u);
  }
}

BOOST_AUTO_TEST_CASE(every_synced_write_survives_a_power_cut_and_unsynced_ones_need_not) {
  // The control run (buffered, as with --unsafe-no-fsync) must lose writes, or the cut did not
  // really drop anything and the synced run would prove nothing.
  for (auto d : {store::durability::synced, store::durability::buffered}) {
    testing::temp_dir dir;
    auto faults = std::make_shared<store::fault_injector>();
    const auto o = faulty_store_options(dir, faults);
    constexpr std::uint64_t count = 200;
    {
      auto db = std::move(*store::store::open(o));
      store::seq_log log(*db, 3, "conv/dm/a/b", store::record::message);
      for (std::uint64_t seq = 1; seq <= count; ++seq) {
        store::write_batch b;
        log.append(b, seq, "message " + std::to_string(seq));
        BOOST_TEST_REQUIRE(db->write(b, d).ok());  // acked
      }
      faults->power_loss();
    }  // the node dies with the power: nothing more reaches the disk
    const auto dropped = faults->drop_unsynced();
    faults->set(store::fault_injector::fault::none);
    auto db = std::move(*store::store::open(o));
    store::seq_log log(*db, 3, "conv/dm/a/b", store::record::message);
    const auto last = *log.last_seq();
    auto all = log.read_after(0, count + 1);
    BOOST_TEST_REQUIRE(all.ok());
    if (d == store::durability::synced) {
      BOOST_TEST(last == count);
      BOOST_TEST(all->entries.size() == count);
    } else {
      BOOST_TEST(dropped > 0u);
      BOOST_TEST(last < count);
      BOOST_TEST(all->entries.size() < count);
    }
    // What survived is a prefix: no holes.
    for (std::size_t i = 0; i < all->entries.size(); ++i) {
      BOOST_TEST_REQUIRE(all->entries[i].seq == i + 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_broken_disk_keeps_writes_refused_until_a_restart) {
  testing::temp_dir dir;
  auto faults = std::make_shared<store::fault_injector>();
  const auto o = faulty_store_options(dir, faults);
  {
    auto db = std::move(*store::store::open(o));
    store::seq_log log(*db, 1, "conv/dm/a/b", store::record::message);
    faults->set(store::fault_injector::fault::io_error);
    store::write_batch b;
    log.append(b, 1, "one");
    BOOST_TEST(!db->write(b, store::durability::synced).ok());
    faults->set(store::fault_injector::fault::none);
    // RocksDB will not resume after EIO: writes stay refused, as a retriable error, and the
    // reason is kept for the operator.
    store::write_batch again;
    log.append(again, 1, "one");
    auto refused = db->write(again, store::durability::synced);
    BOOST_TEST(!refused.ok());
    BOOST_TEST(refused.retriable());
    BOOST_TEST(db->write_error().has_value());
  }
  auto db = std::move(*store::store::open(o));
  store::seq_log log(*db, 1, "conv/dm/a/b", store::record::message);
  store::write_batch b;
  log.append(b, 1, "one");
  BOOST_TEST(db->write(b, store::durability::synced).ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(message_log)

BOOST_AUTO_TEST_CASE(append_scan_forward_backward_and_reopen) {
  testing::temp_dir dir;
  {
    auto db = open_store(dir.path());
    store::seq_log log(*db, 2, "conv/dm/a/b", store::record::message);
    store::seq_log neighbour(*db, 2, "conv/dm/a/bb", store::record::message);
    store::write_batch b;
    for (std::uint64_t seq = 1; seq <= 300; ++seq) log.append(b, seq, "m" + std::to_string(seq));
    neighbour.append(b, 1, "other");
    BOOST_TEST(db->write(b, store::durability::synced).ok());
  }
  auto db = open_store(dir.path());
  store::seq_log log(*db, 2, "conv/dm/a/b", store::record::message);
  BOOST_TEST(*log.last_seq() == 300u);

  auto page = log.read_after(0, 100);
  BOOST_TEST_REQUIRE(page.ok());
  BOOST_TEST(page->entries.size() == 100u);
  BOOST_TEST(page->has_more);
  BOOST_TEST(page->entries.front().seq == 1u);
  BOOST_TEST(page->entries.back().seq == 100u);

  auto tail = log.read_after(250, 100);
  BOOST_TEST(tail->entries.size() == 50u);
  BOOST_TEST(!tail->has_more);
  BOOST_TEST(tail->entries.back().value == "m300");

  auto back = log.read_before(11, 5);
  BOOST_TEST(back->entries.size() == 5u);
  BOOST_TEST(back->entries.front().seq == 10u);
  BOOST_TEST(back->entries.back().seq == 6u);
  BOOST_TEST(back->has_more);

  auto newest = log.read_before(0, 2);
  BOOST_TEST(newest->entries.front().seq == 300u);

  auto first = log.read_before(2, 10);
  BOOST_TEST(first->entries.size() == 1u);
  BOOST_TEST(!first->has_more);

  auto at = log.at(42);
  BOOST_TEST(**at == "m42");
}

BOOST_AUTO_TEST_CASE(an_empty_log_has_last_seq_zero) {
  testing::temp_dir dir;
  auto db = open_store(dir.path());
  store::seq_log log(*db, 0, "user/nobody", store::record::inbox);
  BOOST_TEST(*log.last_seq() == 0u);
  BOOST_TEST(log.read_after(0, 10)->entries.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(event_log)

std::vector<std::uint64_t> seqs_of(const store::event_page& page) {
  std::vector<std::uint64_t> out;
  for (auto& e : page.events) out.push_back(e.seq);
  return out;
}

BOOST_AUTO_TEST_CASE(events_are_numbered_per_shard_at_write_and_survive_a_reopen) {
  testing::temp_dir dir;
  {
    auto db = open_store(dir.path(), 2);
    store::write_batch b;
    b.event(0, "a");
    b.event(1, "x");
    b.event(0, "b");
    BOOST_TEST(db->write(b, store::durability::synced).ok());
    store::write_batch c;
    c.event(0, "c");
    BOOST_TEST(db->write(c, store::durability::synced).ok());
  }
  auto db = open_store(dir.path(), 0);
  auto page = db->read_events(0, 0, 10);
  BOOST_TEST_REQUIRE(page.ok());
  BOOST_TEST((seqs_of(*page) == std::vector<std::uint64_t>{1, 2, 3}));
  BOOST_TEST(page->events[2].payload == "c");
  BOOST_TEST(page->through == 3u);
  BOOST_TEST(db->read_events(1, 0, 10)->events.size() == 1u);
  // Paged, and numbering goes on after the reopen.
  auto first = db->read_events(0, 0, 2);
  BOOST_TEST((seqs_of(*first) == std::vector<std::uint64_t>{1, 2}));
  BOOST_TEST(first->through == 2u);
  store::write_batch d;
  d.event(0, "d");
  BOOST_TEST(db->write(d, store::durability::synced).ok());
  BOOST_TEST((seqs_of(*db->read_events(0, 2, 10)) == std::vector<std::uint64_t>{3, 4}));
}

BOOST_AUTO_TEST_CASE(the_event_bell_rings_once_per_arming_for_its_shard_only) {
  testing::temp_dir dir;
  auto db = open_store(dir.path(), 2);
  std::vector<std::uint32_t> rung;
  db->on_new_events([&](std::uint32_t shard) { rung.push_back(shard); });
  auto write_event = [&](std::uint32_t shard) {
    store::write_batch b;
    b.event(shard, "e");
    BOOST_TEST_REQUIRE(db->write(b, store::durability::synced).ok());
  };
  write_event(0);  // not armed: silent
  BOOST_TEST(rung.empty());
  db->arm_event_bell(0);
  write_event(1);  // another shard's event: silent
  BOOST_TEST(rung.empty());
  write_event(0);
  BOOST_TEST((rung == std::vector<std::uint32_t>{0}));
  write_event(0);  // disarmed by the ring
  BOOST_TEST((rung == std::vector<std::uint32_t>{0}));
  db->arm_event_bell(1);
  db->arm_event_bell(7);  // no such shard: ignored
  write_event(1);
  BOOST_TEST((rung == std::vector<std::uint32_t>{0, 1}));
  // When it rings, the event is readable.
  BOOST_TEST(db->read_events(1, 0, 10)->events.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_failed_write_leaves_a_hole_that_readers_step_over) {
  testing::temp_dir dir;
  auto db = open_store(dir.path(), 2);
  store::write_batch ok1;
  ok1.event(0, "one");
  BOOST_TEST(db->write(ok1, store::durability::synced).ok());
  store::write_batch bad;  // refused (no shard 9) after its event took seq 2 of shard 0
  bad.event(0, "lost");
  bad.put(9, "k", "v");
  BOOST_TEST(!db->write(bad, store::durability::synced).ok());
  store::write_batch ok3;
  ok3.event(0, "three");
  BOOST_TEST(db->write(ok3, store::durability::synced).ok());
  auto page = db->read_events(0, 0, 10);
  BOOST_TEST((seqs_of(*page) == std::vector<std::uint64_t>{1, 3}));
  BOOST_TEST(page->through == 3u);
}

BOOST_AUTO_TEST_CASE(old_events_are_trimmed_past_the_retention) {
  testing::temp_dir dir;
  store::options o;
  o.dir = dir.path();
  o.shard_count = 1;
  o.event_retention = 1024;  // the smallest allowed
  auto db = std::move(*store::store::open(o));
  for (int batch = 0; batch < 4; ++batch) {
    store::write_batch b;
    for (int i = 0; i < 1024; ++i) b.event(0, "e");
    BOOST_TEST(db->write(b, store::durability::buffered).ok());
  }
  // 4096 written; trimmed at 2048 (below 1024), 3072 (below 2048), 4096 (below 3072).
  auto page = db->read_events(0, 0, 5);
  BOOST_TEST_REQUIRE(!page->events.empty());
  BOOST_TEST(page->events.front().seq == 3072u);
  BOOST_TEST(page->through == 3076u);
}

BOOST_AUTO_TEST_CASE(an_imported_shard_continues_its_own_numbering) {
  testing::temp_dir a_dir, b_dir;
  auto a = open_store(a_dir.path(), 2);
  auto b = open_store(b_dir.path(), 2);
  store::write_batch w;
  for (int i = 0; i < 5; ++i) w.event(1, "from a");
  BOOST_TEST(a->write(w, store::durability::synced).ok());
  store::write_batch local;  // b numbered shard 1 before the import
  local.event(1, "b's own");
  BOOST_TEST(b->write(local, store::durability::synced).ok());
  auto exported = a->export_shard(1);
  BOOST_TEST_REQUIRE(exported.ok());
  BOOST_TEST(b->import_shard(1, *exported).ok());
  store::write_batch next;
  next.event(1, "after the move");
  BOOST_TEST(b->write(next, store::durability::synced).ok());
  auto page = b->read_events(1, 0, 10);
  BOOST_TEST((seqs_of(*page) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6}));
  BOOST_TEST(page->events.back().payload == "after the move");
}

BOOST_AUTO_TEST_SUITE_END()
