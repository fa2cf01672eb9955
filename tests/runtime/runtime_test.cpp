// runtime/: entity ids, shard hashing, tokens, group commit.
#define BOOST_TEST_MODULE runtime
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "parley/client/client.hpp"
#include "parley/runtime/cluster_errc.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/group_committer.hpp"
#include "parley/runtime/rate_limit.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/tls.hpp"
#include "parley/store/keys.hpp"
#include "parley/testing/support.hpp"

#include "client.capnp.h"

#include <capnp/schema.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <caf/sec.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <thread>

using namespace parley;
using namespace parley::runtime;

BOOST_AUTO_TEST_SUITE(entity_ids)

BOOST_AUTO_TEST_CASE(direct_conversation_ids_are_canonical) {
  BOOST_TEST(dm_conversation("bob", "alice") == "dm/alice/bob");
  BOOST_TEST(dm_conversation("alice", "bob") == "dm/alice/bob");
  BOOST_TEST(conversation_entity("dm/alice/bob") == "conv/dm/alice/bob");
}

BOOST_AUTO_TEST_CASE(conversation_ids_parse_or_are_refused) {
  auto dm = parse_conversation("dm/alice/bob");
  BOOST_TEST_REQUIRE(dm.has_value());
  BOOST_TEST(!dm->is_group);
  BOOST_TEST(dm->involves("alice"));
  BOOST_TEST(!dm->involves("carol"));
  auto g = parse_conversation("group/g42");
  BOOST_TEST_REQUIRE(g.has_value());
  BOOST_TEST(g->group == "g42");
  for (const char* bad : {"dm/bob/alice", "dm/alice/alice", "dm/alice", "group/", "group/a/b",
                          "chan/x", "", "dm//bob", "dm/al ice/bob"}) {
    BOOST_TEST(!parse_conversation(bad).has_value(), bad);
  }
}

BOOST_AUTO_TEST_CASE(names_are_validated) {
  BOOST_TEST(valid_name("alice.smith@example-1_x"));
  BOOST_TEST(!valid_name(""));
  BOOST_TEST(!valid_name("a/b"));
  BOOST_TEST(!valid_name(std::string(129, 'a')));
  BOOST_TEST(valid_name(std::string(128, 'a')));
  BOOST_TEST(!valid_name(std::string("a\0b", 3)));
}

BOOST_AUTO_TEST_CASE(entity_ids_are_parsed_in_one_place_and_malformed_ones_refused) {
  auto user = parse_entity("user/alice");
  BOOST_TEST_REQUIRE(user.has_value());
  BOOST_TEST((user->kind == entity_kind::user));
  BOOST_TEST(user->name == "alice");
  auto conversation = parse_entity("conv/dm/alice/bob");
  BOOST_TEST_REQUIRE(conversation.has_value());
  BOOST_TEST((conversation->kind == entity_kind::conversation));
  BOOST_TEST(conversation->name == "dm/alice/bob");
  auto group = parse_entity("group/team");
  BOOST_TEST_REQUIRE(group.has_value());
  BOOST_TEST(group->name == "team");
  auto presence = parse_entity("presence/12");
  BOOST_TEST_REQUIRE(presence.has_value());
  BOOST_TEST((presence->kind == entity_kind::presence));
  for (const char* bad :
       {"user/", "user/has space", "group/", "group/a/b", "conv/dm/bob/alice", "conv/dm/alice",
        "conv/chat/x", "presence/x", "presence/", "inbox/a", ""}) {
    BOOST_TEST(!parse_entity(bad).has_value(), bad);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(shards)

BOOST_AUTO_TEST_CASE(shard_of_is_xxhash64_and_stable_across_builds) {
  // Golden values: xxHash64(seed 0) modulo the count. If these change, data dirs written by
  // an older build would route ids to the wrong shard.
  // XXH64("user/alice") = 0xe3e69dd6bff2b08b, XXH64("group/g42") = 0xf14849f7f34d0140.
  BOOST_TEST(shard_of("user/alice", 64) == 0xe3e69dd6bff2b08bull % 64);
  BOOST_TEST(shard_of("user/alice", 1000) == 0xe3e69dd6bff2b08bull % 1000);
  BOOST_TEST(shard_of("group/g42", 64) == 0xf14849f7f34d0140ull % 64);
  BOOST_TEST(shard_of("conv/dm/alice/bob", 64) == 0xf45cb3ed236b26cbull % 64);
}

BOOST_AUTO_TEST_CASE(a_presence_id_names_its_shard) {
  BOOST_TEST(presence_entity(17) == "presence/17");
  BOOST_TEST(shard_of(presence_entity(17), 64) == 17u);
  BOOST_TEST(shard_of(presence_entity(0), 64) == 0u);
  BOOST_TEST((kind_of("presence/3") == entity_kind::presence));
  BOOST_TEST(presence_shard("presence/63").value() == 63u);
  // Anything else under the prefix is not a presence id (and hashes like any id).
  BOOST_TEST(!presence_shard("presence/").has_value());
  BOOST_TEST(!presence_shard("presence/1x").has_value());
  BOOST_TEST(!presence_shard("presence/1234567890").has_value());
  BOOST_TEST(!kind_of("presence/x").has_value());
  BOOST_TEST(!presence_shard("user/presence/1").has_value());
}

BOOST_AUTO_TEST_CASE(ids_spread_over_all_shards) {
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(shard_of("user/u" + std::to_string(i), 64));
  BOOST_TEST(seen.size() == 64u);
}

BOOST_AUTO_TEST_CASE(the_local_map_owns_every_shard) {
  local_shard_map map("local", 16);
  BOOST_TEST(map.shard_count() == 16u);
  BOOST_TEST(map.owner(15) == "local");
  BOOST_TEST(map.epoch() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tokens)

using namespace std::chrono;

BOOST_AUTO_TEST_CASE(a_fresh_token_verifies) {
  token_authority auth(std::string(32, 'k'));
  auto token = auth.issue("alice.b", hours(1));
  auto v = auth.verify(token);
  BOOST_TEST_REQUIRE(v.ok());
  BOOST_TEST(v.value().user == "alice.b");
}

BOOST_AUTO_TEST_CASE(operator_tokens_and_user_tokens_do_not_stand_in_for_each_other) {
  token_authority auth(std::string(32, 'k'));
  token_authority other(std::string(32, 'x'));
  const auto now = system_clock::now();
  auto code = [](const error& e) { return static_cast<auth_errc>(e.code()); };
  const auto op = auth.issue_operator(hours(1), now);
  BOOST_TEST(auth.verify_operator(op, now).ok());
  BOOST_TEST((code(auth.verify_operator(auth.issue("alice", hours(1), now), now)) ==
              auth_errc::unsupported_version));
  BOOST_TEST((auth.verify(op, now).error().code() ==
              static_cast<std::uint8_t>(auth_errc::unsupported_version)));
  BOOST_TEST(
      (code(auth.verify_operator(other.issue_operator(hours(1), now), now)) == auth_errc::forged));
  BOOST_TEST((code(auth.verify_operator(op, now + hours(2))) == auth_errc::expired));
  auto tampered = op;
  tampered.replace(4, 1, tampered[4] == '1' ? "2" : "1");  // the issue time
  BOOST_TEST((code(auth.verify_operator(tampered, now)) == auth_errc::forged));
  BOOST_TEST((code(auth.verify_operator("op1.x.y", now)) == auth_errc::malformed));
  BOOST_CHECK_THROW(auth.issue_operator(max_operator_ttl + seconds(1)), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(forged_expired_and_malformed_tokens_are_refused) {
  token_authority auth(std::string(32, 'k'));
  token_authority other(std::string(32, 'x'));
  const auto now = system_clock::now();
  auto err = [&](const std::string& t) {
    auto v = auth.verify(t, now);
    BOOST_TEST_REQUIRE(!v.ok());
    BOOST_TEST_REQUIRE(v.error().in(category_of(auth_errc{})));
    return static_cast<auth_errc>(v.error().code());
  };
  BOOST_TEST((err(other.issue("alice", hours(1), now)) == auth_errc::forged));
  BOOST_TEST((err(auth.issue("alice", seconds(1), now - seconds(10))) == auth_errc::expired));
  // Changing the user or the expiry breaks the signature.
  auto good = auth.issue("alice", hours(1), now);
  auto tampered = good;
  tampered.replace(3, 5, "mallo");
  BOOST_TEST((err(tampered) == auth_errc::forged));
  auto later = "v1.alice.99999999999." + good.substr(good.rfind('.') + 1);
  BOOST_TEST((err(later) == auth_errc::forged));
  BOOST_TEST((err("v3" + good.substr(2)) == auth_errc::unsupported_version));
  BOOST_TEST((err("") == auth_errc::malformed));
  BOOST_TEST((err("v1.alice") == auth_errc::malformed));
  BOOST_TEST((err("v1.alice.12x.abcd") == auth_errc::malformed));
  BOOST_TEST((err("v1.al/ice.123.abcd") == auth_errc::malformed));
}

BOOST_AUTO_TEST_CASE(a_token_says_when_it_was_issued_and_may_be_bound_to_a_device_type) {
  token_authority auth(std::string(32, 'k'));
  const auto now = system_clock::time_point(milliseconds(1'800'000'000'123));
  auto any = auth.verify(auth.issue("bob", hours(2), now), now + seconds(1));
  BOOST_TEST_REQUIRE(any.ok());
  BOOST_TEST(any->issued_unix_us == 1'800'000'000'123'000u);
  BOOST_TEST(any->expires_unix_s == 1'800'007'200u);
  BOOST_TEST(!any->device_type.has_value());
  BOOST_TEST(any->admits_device(0).ok());
  BOOST_TEST(any->admits_device(3).ok());
  const auto bound_token = auth.issue("bob", hours(2), now, std::uint16_t{2});
  BOOST_TEST(bound_token.rfind("v2.bob.1800000000123000.1800007200.2.", 0) == 0);
  auto bound = auth.verify(bound_token, now);
  BOOST_TEST_REQUIRE(bound.ok());
  BOOST_TEST(bound->device_type.value() == 2u);
  BOOST_TEST(bound->admits_device(2).ok());
  BOOST_TEST(bound->admits_device(1).is(auth_errc::wrong_device));
  // The device type is signed: binding a token to another type, or unbinding it, breaks it.
  auto unbound = bound_token;
  unbound.replace(std::string("v2.bob.1800000000123000.1800007200.").size(), 1, "*");
  BOOST_TEST(auth.verify(unbound, now).error().is(auth_errc::forged));
  // A token "issued" beyond the allowed clock skew ahead is refused.
  BOOST_TEST(auth.verify(auth.issue("bob", hours(2), now + hours(3)), now)
                 .error()
                 .is(auth_errc::malformed));
  // Fields are parsed strictly: a bad device type or issue time never reaches the signature.
  const std::string mac(64, '0');
  for (const auto* t :
       {"v2.bob.1800000000123000.1800007200.65536.", "v2.bob.1800000000123000.1800007200.x.",
        "v2.bob.01800000000123000.1800007200.*.", "v2.bob..1800007200.*.",
        "v2.bob.18000000001230000.1800007200.*.", "v2.bob.1800000000123000.1800007200."}) {
    BOOST_TEST(auth.verify(t + mac, now).error().is(auth_errc::malformed), t);
  }
}

BOOST_AUTO_TEST_CASE(v1_tokens_still_log_in_without_an_issue_time) {
  // A v1 token signed with the same secret (as a node before v2 issued them).
  const std::string secret(32, 'k');
  token_authority auth(secret);
  const auto now = system_clock::time_point(seconds(1'800'000'000));
  const std::string payload = "v1.carol.1800003600";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    static const char digits[] = "0123456789abcdef";
    hex += digits[mac[i] >> 4];
    hex += digits[mac[i] & 0xf];
  }
  auto v = auth.verify(payload + "." + hex, now);
  BOOST_TEST_REQUIRE(v.ok());
  BOOST_TEST(v->user == "carol");
  BOOST_TEST(v->issued_unix_us == 0u);
  BOOST_TEST(!v->device_type.has_value());
}

BOOST_AUTO_TEST_CASE(expiries_are_bounded_and_parsed_strictly) {
  token_authority auth(std::string(32, 'k'));
  const auto now = system_clock::now();
  BOOST_CHECK_THROW(auth.issue("alice", max_token_ttl + seconds(1), now), std::invalid_argument);
  BOOST_CHECK_THROW(auth.issue("alice", seconds(0), now), std::invalid_argument);
  BOOST_CHECK_THROW(auth.issue("alice", seconds(-5), now), std::invalid_argument);
  BOOST_TEST(auth.verify(auth.issue("alice", max_token_ttl, now), now).ok());
  auto err = [&](const std::string& t) {
    auto v = auth.verify(t, now);
    BOOST_TEST_REQUIRE(!v.ok());
    BOOST_TEST_REQUIRE(v.error().in(category_of(auth_errc{})));
    return static_cast<auth_errc>(v.error().code());
  };
  // Properly signed, but valid for far longer than any token issued here: a token issued by a
  // clock 30 days ahead with the longest TTL.
  BOOST_TEST(
      (err(auth.issue("alice", max_token_ttl, now + hours(24 * 30))) == auth_errc::malformed));
  // 19- and 20-digit expiries, signs and leading zeros never reach the signature check.
  BOOST_TEST((err("v1.alice.99999999999999999.00") == auth_errc::malformed));
  BOOST_TEST((err("v1.alice.9999999999999999999.00") == auth_errc::malformed));
  BOOST_TEST((err("v1.alice.18446744073709551617.00") == auth_errc::malformed));
  BOOST_TEST((err("v1.alice.+1234567890.00") == auth_errc::malformed));
  BOOST_TEST((err("v1.alice.01234567890.00") == auth_errc::malformed));
  BOOST_TEST((err("v1.alice.-1.00") == auth_errc::malformed));
}

BOOST_AUTO_TEST_CASE(secret_files_that_cannot_be_read_give_clear_errors) {
  testing::temp_dir dir;
  std::string error;
  // What a failed read says (and that it failed).
  auto why = [&](const result<std::string>& r) {
    error = r ? std::string() : r.error().message();
    return r.ok();
  };
  // A tool never creates the secret: one made by it would match no node.
  BOOST_TEST(!why(load_secret(dir.path() + "/secret")));
  BOOST_TEST(error.find("does not exist") != std::string::npos, error);
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/secret"));
  // A dangling link and a link loop: an error, not unbounded recursion.
  std::filesystem::create_symlink(dir.path() + "/nowhere", dir.path() + "/dangling");
  BOOST_TEST(!why(load_or_create_secret(dir.path() + "/dangling")));
  BOOST_TEST(error.find("dangling") != std::string::npos, error);
  BOOST_TEST(!why(load_secret(dir.path() + "/dangling")));
  std::filesystem::create_symlink(dir.path() + "/loop", dir.path() + "/loop");
  BOOST_TEST(!why(load_or_create_secret(dir.path() + "/loop")));
  BOOST_TEST(error.find("loop") != std::string::npos, error);
  // Not a file, and a file of the wrong size.
  std::filesystem::create_directory(dir.path() + "/adir");
  BOOST_TEST(!why(load_or_create_secret(dir.path() + "/adir")));
  BOOST_TEST(error.find("not a regular file") != std::string::npos, error);
  { std::ofstream(dir.path() + "/short") << "abc"; }
  BOOST_TEST(!why(load_secret(dir.path() + "/short")));
  BOOST_TEST(error.find("32-byte") != std::string::npos, error);
  // Once a node has created it, tools read the same bytes.
  auto created = load_or_create_secret(dir.path() + "/secret");
  BOOST_TEST_REQUIRE(created.ok());
  auto read = load_secret(dir.path() + "/secret");
  BOOST_TEST_REQUIRE(read.ok());
  BOOST_TEST(*read == *created);
}

BOOST_AUTO_TEST_CASE(the_secret_file_is_created_once_and_reused) {
  testing::temp_dir dir;
  auto first = load_or_create_secret(dir.path() + "/secret");
  auto second = load_or_create_secret(dir.path() + "/secret");
  BOOST_TEST_REQUIRE(first.ok());
  BOOST_TEST_REQUIRE(second.ok());
  BOOST_TEST(first->size() == 32u);
  BOOST_TEST(*first == *second);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rate_limits)

BOOST_AUTO_TEST_CASE(a_bucket_allows_its_burst_then_its_rate) {
  using clock = token_bucket::clock;
  const rate_limit limit{10, 5};
  token_bucket b;
  const auto t0 = clock::now();
  for (int i = 0; i < 5; ++i) BOOST_TEST(b.try_take(limit, t0));
  BOOST_TEST(!b.try_take(limit, t0));
  BOOST_TEST(!b.try_take(limit, t0 + std::chrono::milliseconds(50)));  // half a token
  BOOST_TEST(b.try_take(limit, t0 + std::chrono::milliseconds(150)));
  BOOST_TEST(!b.full(limit, t0 + std::chrono::milliseconds(150)));
  BOOST_TEST(b.full(limit, t0 + std::chrono::seconds(2)));
  // Never more than the burst, however long the pause.
  for (int i = 0; i < 5; ++i) BOOST_TEST(b.try_take(limit, t0 + std::chrono::hours(1)));
  BOOST_TEST(!b.try_take(limit, t0 + std::chrono::hours(1)));
  token_bucket unlimited;
  for (int i = 0; i < 1000; ++i) BOOST_TEST_REQUIRE(unlimited.try_take(rate_limit{}, t0));
}

BOOST_AUTO_TEST_CASE(a_charged_bucket_goes_into_debt_and_says_how_long_it_lasts) {
  using clock = token_bucket::clock;
  using std::chrono::milliseconds;
  const rate_limit bytes{1000, 4000};  // 1000 per second, bursts of 4000
  token_bucket b;
  const auto t0 = clock::now();
  BOOST_TEST((b.debt(bytes, t0) == clock::duration::zero()));
  b.charge(bytes, t0, 4000);  // the whole burst: balance 0, no debt yet
  BOOST_TEST((b.debt(bytes, t0) == clock::duration::zero()));
  b.charge(bytes, t0, 500);  // 500 in debt: half a second
  const auto wait = b.debt(bytes, t0);
  BOOST_TEST((wait >= milliseconds(500)));
  BOOST_TEST((wait <= milliseconds(501)));
  BOOST_TEST((b.debt(bytes, t0 + milliseconds(250)) > clock::duration::zero()));
  BOOST_TEST((b.debt(bytes, t0 + wait) == clock::duration::zero()));
  BOOST_TEST(!b.try_take(bytes, t0 + milliseconds(250)));  // in debt: nothing to take
  token_bucket free;
  free.charge(rate_limit{}, t0, 1e9);  // unlimited: never in debt
  BOOST_TEST((free.debt(rate_limit{}, t0) == clock::duration::zero()));
}

BOOST_AUTO_TEST_CASE(the_user_table_is_bounded) {
  using clock = token_bucket::clock;
  keyed_rate_limiter users(rate_limit{1, 1}, 32);  // 2 per stripe
  const auto t0 = clock::now();
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += users.try_take("u" + std::to_string(i), t0);
  BOOST_TEST(users.size() <= 32u);
  BOOST_TEST(admitted <= 32);
  BOOST_TEST(admitted > 0);
  // Quiet users are forgotten to make room.
  int later = 0;
  for (int i = 1000; i < 1100; ++i)
    later += users.try_take("u" + std::to_string(i), t0 + std::chrono::seconds(5));
  BOOST_TEST(later > 0);
  BOOST_TEST(users.size() <= 32u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(group_commit)

/// A fresh store of `shards` shards in `dir`.
std::unique_ptr<store::store> open_store(const testing::temp_dir& dir, std::uint32_t shards) {
  store::options o;
  o.dir = dir.path();
  o.shard_count = shards;
  return std::move(*store::store::open(o));
}

/// Synced (grouped by the committer's thread), and unsynced (written on the submitting thread).
const store::durability committer_kinds[] = {store::durability::synced,
                                             store::durability::buffered};

BOOST_DATA_TEST_CASE(every_batch_is_durable_before_its_callback_and_in_its_writers_order,
                     boost::unit_test::data::xrange(2), kind) {
  testing::temp_dir dir;
  auto db = open_store(dir, 4);
  std::atomic<int> done{0};
  std::atomic<int> missing_at_callback{0};
  std::atomic<int> out_of_order{0};
  constexpr int writers = 8, per_writer = 250;
  std::vector<int> last_done(writers, -1);  // each writer's entry is touched by its callbacks
  {
    committer_options co;
    co.durability = committer_kinds[kind];
    group_committer committer(*db, co);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        for (int i = 0; i < per_writer; ++i) {
          store::write_batch b;
          const std::string key = "w" + std::to_string(w) + "-" + std::to_string(i);
          b.put(static_cast<std::uint32_t>(w % 4), key, "v");
          committer.submit(std::move(b), [&, w, i, key](const error& st) {
            // The write must be readable when its callback runs, after its writer's earlier
            // ones.
            auto got = db->get(static_cast<std::uint32_t>(w % 4), key);
            if (!st.ok() || !got.ok() || !got->has_value()) ++missing_at_callback;
            if (last_done[w] != i - 1) ++out_of_order;
            last_done[w] = i;
            ++done;
          });
        }
      });
    }
    for (auto& t : threads) t.join();
    committer.stop();
    BOOST_TEST(done.load() == writers * per_writer);
    BOOST_TEST(missing_at_callback.load() == 0);
    BOOST_TEST(out_of_order.load() == 0);
    auto stats = committer.stats();
    BOOST_TEST(stats.batches == static_cast<std::uint64_t>(writers * per_writer));
    BOOST_TEST(stats.groups <= stats.batches);
  }
}

/// One batch, written synced through `committer`; waits for its callback.
error write_one(group_committer& committer, const std::string& key) {
  std::promise<error> outcome;
  store::write_batch b;
  b.put(0, key, "v");
  committer.submit(std::move(b), [&](const error& st) { outcome.set_value(st); });
  return outcome.get_future().get();
}

BOOST_AUTO_TEST_CASE(a_lone_writer_is_never_paced) {
  testing::temp_dir dir;
  auto db = open_store(dir, 1);
  committer_options co;
  co.min_sync_interval = std::chrono::hours(1);  // a paced write would never finish here
  group_committer committer(*db, co);
  // Each write waits for the one before (nothing arrives while a write runs): none is held.
  for (int i = 0; i < 20; ++i)
    BOOST_TEST_REQUIRE(write_one(committer, "k" + std::to_string(i)).ok());
  BOOST_TEST(committer.stats().groups == 20u);
}

BOOST_AUTO_TEST_CASE(a_write_after_overlapping_ones_waits_for_the_interval_or_a_full_group) {
  testing::temp_dir dir;
  auto db = open_store(dir, 1);
  committer_options co;
  co.min_sync_interval = std::chrono::hours(1);  // only a full group ends the wait here
  co.max_group_ops = 3;
  group_committer committer(*db, co);
  std::atomic<int> ok{0};
  // A write; `then` runs in its callback, on the committer's thread.
  auto submit = [&](
                    const std::string& key, std::function<void()> then = [] {}) {
    store::write_batch b;
    b.put(0, key, "v");
    committer.submit(std::move(b), [&ok, then = std::move(then)](const error& st) {
      ok += st.ok() ? 1 : 0;
      then();
    });
  };
  // A alone; B and C queue behind A's callback and so share a group: writers overlap.
  std::promise<void> a_entered, a_release, b_entered, b_release;
  // A callback that holds the committer until `release` is set.
  auto holding = [](std::promise<void>& entered, std::promise<void>& release) {
    return [&entered, released = release.get_future().share()] {
      entered.set_value();
      released.wait();
    };
  };
  submit("a", holding(a_entered, a_release));
  a_entered.get_future().wait();
  submit("b", holding(b_entered, b_release));
  submit("c");
  a_release.set_value();
  b_entered.get_future().wait();  // B + C written
  // D comes after that group: it waits (an hour) for more writes to share its fsync, and is
  // not written meanwhile (an unpaced committer writes it in well under a millisecond here).
  std::promise<void> d_written;
  submit("d", [&] { d_written.set_value(); });
  b_release.set_value();
  auto d_done = d_written.get_future();
  BOOST_TEST((d_done.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout));
  submit("e");
  submit("f");  // the group is full: D, E and F go
  d_done.wait();
  committer.stop();
  BOOST_TEST(ok.load() == 6);
  const auto stats = committer.stats();
  BOOST_TEST(stats.batches == 6u);
  BOOST_TEST(stats.groups == 3u);  // A; B + C; D + E + F
}

BOOST_AUTO_TEST_CASE(after_stop_a_submit_fails_at_once) {
  testing::temp_dir dir;
  auto db = open_store(dir, 1);
  group_committer committer(*db, committer_options{});
  committer.stop();
  error outcome;
  store::write_batch b;
  b.put(0, "k", "v");
  committer.submit(std::move(b), [&](const error& st) { outcome = st; });
  BOOST_TEST(outcome.is(store::errc::shutting_down));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(error_codes)

BOOST_AUTO_TEST_CASE(every_wire_code_has_the_same_errc_value_name_and_retriability) {
  const auto enumerants = capnp::Schema::from<wire::ErrorCode>().getEnumerants();
  BOOST_TEST_REQUIRE(enumerants.size() > 0u);
  for (auto e : enumerants) {
    const std::string wire_name = e.getProto().getName();  // camelCase
    std::string snake;
    for (char c : wire_name) {
      if (c >= 'A' && c <= 'Z') {
        snake += '_';
        snake += static_cast<char>(c - 'A' + 'a');
      } else {
        snake += c;
      }
    }
    if (e.getOrdinal() == 0) {  // success: an empty parley::error, no errc value
      BOOST_TEST(wire_name == "ok");
      continue;
    }
    const auto code = static_cast<errc>(e.getOrdinal());
    BOOST_TEST(std::string(to_string(code)) == snake, wire_name);
    BOOST_TEST(client::to_string(static_cast<wire::ErrorCode>(e.getOrdinal())) == wire_name);
    // Retrying is the client's business: exactly these are worth a resend.
    const bool transient = code == errc::unavailable || code == errc::internal ||
                           code == errc::timeout || code == errc::rate_limited;
    BOOST_TEST(client::retriable(static_cast<wire::ErrorCode>(e.getOrdinal())) == transient,
               wire_name);
    BOOST_TEST(error(code, "").retriable() == transient, wire_name);
  }
}

BOOST_AUTO_TEST_CASE(an_error_keeps_its_module_code_and_message_across_an_actor_boundary) {
  const error stored(store::errc::io_error, "disk full");
  BOOST_TEST(stored.describe() == "store.io_error: disk full");
  BOOST_TEST(stored.retriable());
  BOOST_TEST(stored.context("export").message() == "export: disk full");
  // Every category at or below the runtime survives to_caf / from_caf unchanged.
  const error samples[] = {stored, error(errc::not_member, "not in g"),
                           error(cluster_errc::map_conflict, "raced"),
                           error(auth_errc::expired, "the token has expired"),
                           error(schema::tls_errc::bad_key, "no key")};
  for (const auto& e : samples) {
    const error back = from_caf(to_caf(e));
    BOOST_TEST(back.describe() == e.describe());
    BOOST_TEST(back.category() == e.category());
    BOOST_TEST(back.code() == e.code());
  }
  BOOST_TEST(from_caf(to_caf(error{})).ok());
  // CAF's own errors: a timeout and a dead receiver are request errors a client can retry.
  BOOST_TEST(from_caf(caf::make_error(caf::sec::request_timeout)).is(errc::timeout));
  BOOST_TEST(from_caf(caf::make_error(caf::sec::request_receiver_down)).is(errc::unavailable));
  BOOST_TEST(from_caf(caf::make_error(caf::sec::invalid_argument)).is(errc::internal));
  // A result holds a value or an error, never both.
  result<int> good = 7;
  result<int> bad{cluster_errc::etcd_unreachable, "no etcd"};
  BOOST_TEST((good.ok() && *good == 7));
  BOOST_TEST(
      (!bad.ok() && bad.error().is(cluster_errc::etcd_unreachable) && bad.error().retriable()));
  BOOST_TEST(!bad.error().is(store::errc::io_error));
}

BOOST_AUTO_TEST_SUITE_END()
