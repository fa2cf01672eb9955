// runtime/: the cluster's etcd layout (keys and JSON codecs) and the rebalance policy, both
// without etcd or a node.
#include <boost/test/unit_test.hpp>

#include "parley/runtime/cluster_layout.hpp"
#include "parley/runtime/rebalance.hpp"

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

BOOST_AUTO_TEST_CASE(draining_and_departed_nodes_receive_nothing) {
  const std::vector<node_id> owners{"a", "a", "a", "a"};
  // b drains, c is not a member (any more): nobody to give to.
  BOOST_TEST((next_rebalance_step("a", owners, {"a", "b"}, {"b"}).what == kind::stay));
  BOOST_TEST((next_rebalance_step("a", owners, {"a"}, {}).what == kind::stay));
  // A draining node with no other member keeps its shards.
  BOOST_TEST((next_rebalance_step("a", owners, {"a"}, {"a"}).what == kind::stay));
}

BOOST_AUTO_TEST_SUITE_END()
