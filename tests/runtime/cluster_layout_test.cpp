// runtime/: the cluster's etcd layout (keys and JSON codecs) and the rebalance policy, both
// without etcd or a node.
#include <boost/test/unit_test.hpp>

#include "parley/runtime/cluster_layout.hpp"
#include "parley/runtime/rebalance.hpp"

#include <algorithm>

using namespace parley::runtime;

BOOST_AUTO_TEST_SUITE(cluster_layout_codecs)

BOOST_AUTO_TEST_CASE(keys_live_under_the_prefix_and_name_their_node) {
  const cluster_layout keys("/c1");
  BOOST_TEST(keys.node("node-2") == "/c1/nodes/node-2");
  BOOST_TEST(keys.drain("node-2") == "/c1/drain/node-2");
  BOOST_TEST(keys.shard_map() == "/c1/shardmap");
  BOOST_TEST(keys.coordinator() == "/c1/coordinator");
  BOOST_TEST(keys.node("n").rfind(keys.nodes(), 0) == 0u);
  BOOST_TEST(cluster_layout::id_in(keys.drain("node-7")) == "node-7");
}

BOOST_AUTO_TEST_CASE(values_survive_a_round_trip) {
  node_info n{"node-3", "10.0.0.3", 7520, 7420, 1234567890123, "127.0.0.1:9420"};
  auto back = decode_node_info(encode_node_info(n));
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->id == n.id);
  BOOST_TEST(back->host == n.host);
  BOOST_TEST(back->cluster_port == n.cluster_port);
  BOOST_TEST(back->client_port == n.client_port);
  BOOST_TEST(back->incarnation == n.incarnation);
  BOOST_TEST(back->http == n.http);
  // A node registered before the HTTP endpoint was published: none.
  auto older = decode_node_info("{\"id\":\"node-1\",\"host\":\"h\"}");
  BOOST_TEST_REQUIRE(older.has_value());
  BOOST_TEST(older->http.empty());

  stored_shard_map m{42, {"node-1", "", "node-2"}};
  auto map = decode_shard_map(encode_shard_map(m));
  BOOST_TEST_REQUIRE(map.has_value());
  BOOST_TEST(map->epoch == 42u);
  BOOST_TEST(map->owners == m.owners);
}

BOOST_AUTO_TEST_CASE(what_is_not_the_expected_json_decodes_to_nothing_without_throwing) {
  for (const char* bad : {"", "not json", "[1,2]", "{\"epoch\":\"x\",\"owners\":[]}",
                          "{\"epoch\":1}", "{\"epoch\":1,\"owners\":[1,2]}", "{\"epoch\":-1"}) {
    BOOST_TEST(!decode_shard_map(bad).has_value(), bad);
  }
  BOOST_TEST(!decode_node_info("{\"host\":\"h\"}").has_value());  // no id
  BOOST_TEST(!decode_node_info("{\"id\":7}").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rebalance)

using kind = rebalance_step::kind;

BOOST_AUTO_TEST_CASE(a_node_two_shards_above_the_emptiest_gives_it_its_lowest_shard) {
  const std::vector<node_id> owners{"a", "b", "a", "a", "b", "a"};  // a 4, b 2, c 0
  auto step = next_rebalance_step("a", owners, {"a", "b", "c"}, {});
  BOOST_TEST((step.what == kind::move));
  BOOST_TEST(step.shard == 0u);
  BOOST_TEST(step.target == "c");
  // b holds 2, c 0: b gives one too.
  BOOST_TEST((next_rebalance_step("b", owners, {"a", "b", "c"}, {}).what == kind::move));
  // c has nothing to give.
  BOOST_TEST((next_rebalance_step("c", owners, {"a", "b", "c"}, {}).what == kind::stay));
}

BOOST_AUTO_TEST_CASE(a_difference_of_one_is_balanced) {
  const std::vector<node_id> owners{"a", "b", "a"};
  BOOST_TEST((next_rebalance_step("a", owners, {"a", "b"}, {}).what == kind::stay));
  BOOST_TEST((next_rebalance_step("b", owners, {"a", "b"}, {}).what == kind::stay));
}

BOOST_AUTO_TEST_CASE(ties_go_to_the_smallest_id) {
  const std::vector<node_id> owners{"a", "a", "a"};
  auto step = next_rebalance_step("a", owners, {"a", "c", "b"}, {});
  BOOST_TEST(step.target == "b");
}

BOOST_AUTO_TEST_CASE(a_draining_node_gives_every_shard_away_then_is_drained) {
  std::vector<node_id> owners{"a", "b", "a"};
  auto step = next_rebalance_step("a", owners, {"a", "b"}, {"a"});
  BOOST_TEST((step.what == kind::move));
  BOOST_TEST(step.target == "b");  // even though b then holds more
  owners = {"b", "b", "b"};
  BOOST_TEST((next_rebalance_step("a", owners, {"a", "b"}, {"a"}).what == kind::drained));
}

namespace {

/// `n` shards owned round-robin by `nodes`.
std::vector<node_id> round_robin(std::size_t n, const std::vector<node_id>& nodes) {
  std::vector<node_id> owners;
  for (std::size_t s = 0; s < n; ++s) owners.push_back(nodes[s % nodes.size()]);
  return owners;
}

/// Applies `plan` (made by `from`) to `owners`.
void apply(std::vector<node_id>& owners, const rebalance_plan& plan, const node_id& from) {
  for (const auto& batch : plan.batches) {
    for (auto s : batch.shards) {
      BOOST_TEST_REQUIRE(owners[s] == from);
      owners[s] = batch.target;
    }
  }
}

std::size_t count(const std::vector<node_id>& owners, const node_id& id) {
  return static_cast<std::size_t>(std::count(owners.begin(), owners.end(), id));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_draining_node_plans_every_shard_spread_over_the_others) {
  auto owners = round_robin(12, {"a", "b", "c"});  // 4 each
  const auto plan = plan_rebalance("a", owners, {"a", "b", "c"}, {"a"}, 100);
  BOOST_TEST(!plan.drained);
  BOOST_TEST_REQUIRE(plan.batches.size() == 2u);
  BOOST_TEST(plan.batches[0].target == "b");
  BOOST_TEST(plan.batches[1].target == "c");
  BOOST_TEST(plan.batches[0].shards == (std::vector<std::uint32_t>{0, 6}));
  BOOST_TEST(plan.batches[1].shards == (std::vector<std::uint32_t>{3, 9}));
  apply(owners, plan, "a");
  BOOST_TEST(count(owners, "b") == 6u);
  BOOST_TEST(count(owners, "c") == 6u);
  BOOST_TEST(plan_rebalance("a", owners, {"a", "b", "c"}, {"a"}, 100).drained);
  // The cap holds a plan back.
  owners = round_robin(12, {"a", "b", "c"});
  const auto capped = plan_rebalance("a", owners, {"a", "b", "c"}, {"a"}, 3);
  std::size_t planned = 0;
  for (const auto& batch : capped.batches) planned += batch.shards.size();
  BOOST_TEST(planned == 3u);
}

BOOST_AUTO_TEST_CASE(join_plans_made_at_once_by_every_node_do_not_overshoot) {
  // c joins two nodes of 32 shards each. a and b plan from the same map at the same time.
  auto owners = round_robin(64, {"a", "b"});
  const std::set<node_id> members{"a", "b", "c"};
  const auto from_a = plan_rebalance("a", owners, members, {}, 64);
  const auto from_b = plan_rebalance("b", owners, members, {}, 64);
  BOOST_TEST_REQUIRE(from_a.batches.size() == 1u);
  BOOST_TEST(from_a.batches[0].target == "c");
  BOOST_TEST(from_a.batches[0].shards.size() == 10u);  // 32 - ceil(64 / 3)
  BOOST_TEST_REQUIRE(from_b.batches.size() == 1u);
  BOOST_TEST(from_b.batches[0].shards.size() == 10u);
  apply(owners, from_a, "a");
  apply(owners, from_b, "b");
  BOOST_TEST(count(owners, "c") == 20u);
  // Then single steps until no two differ by more than one.
  for (int round = 0; round < 10; ++round) {
    for (const node_id& n : members) apply(owners, plan_rebalance(n, owners, members, {}, 64), n);
  }
  BOOST_TEST(count(owners, "a") + count(owners, "b") + count(owners, "c") == 64u);
  for (const node_id& n : members) {
    BOOST_TEST(count(owners, n) >= 21u);
    BOOST_TEST(count(owners, n) <= 22u);
  }
  for (const node_id& n : members) {
    BOOST_TEST(plan_rebalance(n, owners, members, {}, 64).batches.empty());
  }
}

BOOST_AUTO_TEST_CASE(draining_and_departed_nodes_receive_nothing) {
  const std::vector<node_id> owners{"a", "a", "a", "a"};
  // b drains, c is not a member (any more): nobody to give to.
  BOOST_TEST((next_rebalance_step("a", owners, {"a", "b"}, {"b"}).what == kind::stay));
  BOOST_TEST((next_rebalance_step("a", owners, {"a"}, {}).what == kind::stay));
  // A draining node with no other member keeps its shards.
  BOOST_TEST((next_rebalance_step("a", owners, {"a"}, {"a"}).what == kind::stay));
}

BOOST_AUTO_TEST_SUITE_END()
