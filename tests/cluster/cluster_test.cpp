// Cluster tests: nodes in one process, etcd as a child process, clients over real TCP.
#define BOOST_TEST_MODULE cluster
#include <boost/test/unit_test.hpp>

#include "parley/runtime/etcd.hpp"
#include "parley/testing/embedded_cluster.hpp"

using namespace parley;
using parley::client::ErrorCode;
using namespace std::chrono_literals;

namespace {

void require_ok(const client::response& r) {
  BOOST_TEST_REQUIRE(r.ok(), client::to_string(r.code) << ": " << r.error);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(etcd_gateway)

BOOST_AUTO_TEST_CASE(put_get_compare_and_swap_and_leases) {
  testing::etcd_server etcd;
  runtime::etcd_client c(etcd.endpoint());
  BOOST_TEST(!c.put("/t/a", "one"));
  auto a = c.get("/t/a");
  BOOST_TEST_REQUIRE((a && *a));
  BOOST_TEST((*a)->value == "one");
  // CAS: the right revision wins once, a stale one loses.
  auto won = c.put_if("/t/a", "two", (*a)->mod_revision);
  auto lost = c.put_if("/t/a", "three", (*a)->mod_revision);
  BOOST_TEST((won && *won));
  BOOST_TEST((lost && !*lost));
  BOOST_TEST((*c.get("/t/a"))->value == "two");
  auto created = c.put_if("/t/b", "x", 0);
  auto again = c.put_if("/t/b", "y", 0);
  BOOST_TEST((created && *created));
  BOOST_TEST((again && !*again));
  BOOST_TEST(c.get_prefix("/t/")->size() == 2u);
  // A key on a revoked lease disappears.
  auto lease = c.grant_lease(std::chrono::seconds(5));
  BOOST_TEST_REQUIRE(static_cast<bool>(lease));
  BOOST_TEST(!c.put("/t/leased", "v", *lease));
  BOOST_TEST(*c.keep_alive(*lease) > 0);
  BOOST_TEST(!c.revoke(*lease));
  BOOST_TEST(!c.get("/t/leased")->has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(routing)

BOOST_AUTO_TEST_CASE(every_node_follows_one_map_and_owns_a_share) {
  testing::embedded_cluster cluster(3);
  std::uint32_t total = 0;
  std::size_t coordinators = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    auto s = cluster.node(i).stats();
    BOOST_TEST(s.map_epoch == 1u);
    BOOST_TEST(s.owned_shards > 0u);
    BOOST_TEST(s.serving);
    total += s.owned_shards;
    coordinators += s.coordinating ? 1 : 0;
  }
  BOOST_TEST(total == 16u);
  BOOST_TEST(coordinators == 1u);
}

BOOST_AUTO_TEST_CASE(a_direct_message_crosses_nodes_both_ways) {
  testing::embedded_cluster cluster(3);
  // alice's actor lives on node 1, bob's on node 2; alice connects to node 0, bob to node 1.
  const auto alice_name = cluster.user_on(1, "alice");
  const auto bob_name = cluster.user_on(2, "bob");
  auto alice = cluster.login(0, alice_name);
  auto bob = cluster.login(1, bob_name);
  auto ack = alice->send_to_user(bob_name, "x1", "across the cluster");
  require_ok(ack);
  BOOST_TEST(ack.seq == 1u);
  auto pushed = testing::next_message(*bob);
  BOOST_TEST_REQUIRE(pushed.has_value());
  BOOST_TEST(pushed->body == "across the cluster");
  require_ok(bob->send_to_user(alice_name, "y1", "and back"));
  auto back = testing::next_message(*alice);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->seq == 2u);
  // History reads cross nodes too, and an offline device catches up from any node.
  auto phone = cluster.login(2, bob_name, "phone");
  client::sync_state state;
  auto caught = client::catch_up(*phone, state);
  auto& msgs = std::get<std::vector<client::message>>(caught);
  BOOST_TEST_REQUIRE(msgs.size() == 2u);
  BOOST_TEST(msgs[1].body == "and back");
}

BOOST_AUTO_TEST_CASE(a_group_on_a_third_node_fans_out_to_members_everywhere) {
  testing::embedded_cluster cluster(3);
  const auto group = cluster.group_on(2, "team");
  std::vector<std::unique_ptr<client::connection>> members;
  for (std::size_t i = 0; i < 3; ++i) {
    members.push_back(cluster.login(i, cluster.user_on(i, "m" + std::to_string(i) + "x")));
  }
  require_ok(members[0]->create_group(group, "Team"));
  require_ok(members[1]->join_group(group));
  require_ok(members[2]->join_group(group));
  auto ack = members[0]->send_to_group(group, "g1", "hello all");
  require_ok(ack);
  for (std::size_t i = 1; i < 3; ++i) {
    auto m = testing::next_message(*members[i]);
    BOOST_TEST_REQUIRE(m.has_value(), "member on node " << i << " got nothing");
    BOOST_TEST(m->conversation == "group/" + group);
    BOOST_TEST(m->seq == ack.seq);
  }
  auto outsider = cluster.login(1, cluster.user_on(1, "out"));
  BOOST_TEST((outsider->send_to_group(group, "o", "x").code == ErrorCode::NOT_MEMBER));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(a_stopped_nodes_shards_are_unavailable_until_it_returns_with_its_data) {
  testing::embedded_cluster cluster(3);
  const auto carol = cluster.user_on(2, "carol");
  const auto dave = cluster.user_on(0, "dave");
  {
    auto c = cluster.login(0, dave);
    for (int i = 1; i <= 5; ++i) require_ok(c->send_to_user(carol, "k" + std::to_string(i), "m"));
  }
  // The conversation's shard is somewhere; make sure the test stops the node that owns it.
  const std::string conversation =
      dave < carol ? "dm/" + dave + "/" + carol : "dm/" + carol + "/" + dave;
  const std::size_t victim = cluster.owner_of("conv/" + conversation);
  const std::size_t other = (victim + 1) % 3;
  cluster.stop(victim);
  auto d = cluster.login(other, dave == carol ? dave : dave, "second");
  auto refused = d->pull(conversation, 0);
  BOOST_TEST((refused.code == ErrorCode::UNAVAILABLE), client::to_string(refused.code));
  cluster.start(victim);
  client::response page;
  BOOST_TEST(testing::wait_until([&] {
    page = d->pull(conversation, 0);
    return page.ok();
  }));
  BOOST_TEST(page.messages.size() == 5u);
  auto next = d->send_to_user(carol, "k6", "after the restart");
  require_ok(next);
  BOOST_TEST(next.seq == 6u);
}

BOOST_AUTO_TEST_SUITE_END()
