// The app port (schema/app.capnp) against a real node: authentication, tokens, groups and
// sending as a user, called over Cap'n Proto RPC as an app server would.
#define BOOST_TEST_MODULE app
#include <boost/test/unit_test.hpp>

#include "../app_client.hpp"
#include "../support.hpp"
#include "parley/runtime/token.hpp"
#include "parley/testing/embedded_node.hpp"

#include <string>
#include <vector>

using namespace parley;
using parley::test_support::app_client;
using parley::test_support::failure_of;
using parley::test_support::require_ok;
using parley::test_support::starts_with;

namespace {

server::node_options with_app_port() {
  server::node_options o;
  o.app_enabled = true;  // on a free port
  return o;
}

std::string secret_of(const testing::embedded_node& node) {
  return test_support::secret_in(node.data_dir() + "/secret");
}

app::Engine::Client engine_of(test_support::app_client& app, const testing::embedded_node& node) {
  return app.engine(secret_of(node));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(app_rpc)

BOOST_AUTO_TEST_CASE(only_the_secret_opens_the_engine_and_the_third_wrong_one_closes) {
  testing::embedded_node node(with_app_port());
  BOOST_TEST_REQUIRE(node.node().app_port() != 0u);
  {
    app_client app(node.node().app_port());
    std::string failure;
    for (int attempt = 1; attempt <= 2; ++attempt) {
      BOOST_TEST((app.authenticate(std::string(32, 'x'), failure) == nullptr));
      BOOST_TEST(starts_with(failure, "not_authenticated: wrong secret"), failure);
    }
    // The third wrong secret: refused, then the node closes the connection.
    BOOST_TEST((app.authenticate(std::string(32, 'x'), failure) == nullptr));
    BOOST_TEST((app.authenticate(secret_of(node), failure) == nullptr));
    BOOST_TEST(!starts_with(failure, "not_authenticated"), failure);  // disconnected, not asked
  }
  app_client app(node.node().app_port());  // a new connection starts afresh
  auto engine = engine_of(app, node);
  auto tokens = engine.tokensRequest().send().wait(app.wait()).getTokens();
  auto req = tokens.issueRequest();
  req.setUser("alice");
  req.setTtlSeconds(60);
  BOOST_TEST(req.send().wait(app.wait()).getToken().size() > 0u);
}

BOOST_AUTO_TEST_CASE(issued_tokens_log_in_and_bad_arguments_get_a_code) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  auto tokens = engine_of(app, node).tokensRequest().send().wait(app.wait()).getTokens();
  auto issue = [&](const std::string& user, std::uint32_t ttl) {
    auto req = tokens.issueRequest();
    req.setUser(user);
    req.setTtlSeconds(ttl);
    return req.send().wait(app.wait());
  };
  const auto before =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  auto issued = issue("carol", 3600);
  BOOST_TEST(issued.getExpiresUnixS() >= before + 3600);
  BOOST_TEST(issued.getExpiresUnixS() <= before + 3601 + 5);
  auto c = node.connect();
  require_ok(c->login(issued.getToken().cStr(), "laptop"));
  BOOST_TEST(starts_with(failure_of([&] { issue("no/slash", 60); }), "bad_request: invalid user"));
  BOOST_TEST(starts_with(failure_of([&] { issue("carol", 0); }), "bad_request: ttlSeconds"));
  BOOST_TEST(starts_with(failure_of([&] { issue("carol", 401u * 24 * 3600); }),
                         "bad_request: ttlSeconds"));
}

BOOST_AUTO_TEST_CASE(a_group_made_by_the_app_has_its_owner_and_members) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  auto groups = engine_of(app, node).groupsRequest().send().wait(app.wait()).getGroups();
  auto create = [&](const std::string& group, const std::vector<std::string>& members,
                    const std::string& owner = "olga") {
    auto req = groups.createRequest();
    req.setOwner(owner);
    req.setGroup(group);
    req.setName("Team");
    auto list = req.initMembers(static_cast<unsigned>(members.size()));
    for (unsigned i = 0; i < members.size(); ++i) list.set(i, members[i]);
    return req.send().wait(app.wait());
  };
  auto made = create("team", {"pat", "quinn", "pat"});
  BOOST_TEST(std::string(made.getGroup().cStr()) == "team");
  BOOST_TEST(made.getMembers() == 3u);  // olga, pat, quinn (pat once)
  auto pat = node.login("pat");
  require_ok(pat->send_to_group("team", "g1", "hello team"));
  auto stranger = node.login("rita");
  BOOST_TEST(
      (stranger->send_to_group("team", "g1", "let me in").code == wire::ErrorCode::NOT_MEMBER));
  // The same create again is a retry (as for a client); another owner's is refused.
  BOOST_TEST(std::string(create("team", {"pat"}).getGroup().cStr()) == "team");
  BOOST_TEST(starts_with(failure_of([&] { create("team", {}, "rita"); }), "already_exists:"));
  BOOST_TEST(starts_with(failure_of([&] { create("te/am", {}); }), "bad_request:"));
  BOOST_TEST(starts_with(failure_of([&] { create("team2", {"bad id"}); }),
                         "bad_request: invalid member id"));
  auto chosen = create("", {"pat"});  // the node picks an unguessable id
  BOOST_TEST(std::string(chosen.getGroup().cStr()).size() > 16u);
  BOOST_TEST(chosen.getMembers() == 2u);
}

BOOST_AUTO_TEST_CASE(sending_as_a_user_has_the_client_contract) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  auto messages = engine_of(app, node).messagesRequest().send().wait(app.wait()).getMessages();
  auto send = [&](const std::string& to_user, const std::string& to_group, const std::string& id,
                  const std::string& body) {
    auto req = messages.sendAsUserRequest();
    req.setSender("alice");
    req.setToUser(to_user);
    req.setToGroup(to_group);
    req.setClientMsgId(id);
    req.setBody(test_support::data_of(body));
    return req.send().wait(app.wait());
  };
  auto bob = node.login("bob");
  auto first = send("bob", "", "a1", "from the app");
  BOOST_TEST(std::string(first.getConversation().cStr()) == "dm/alice/bob");
  BOOST_TEST(first.getSeq() == 1u);
  auto again = send("bob", "", "a1", "from the app");  // a resend: the same message
  BOOST_TEST(again.getSeq() == 1u);
  BOOST_TEST(send("bob", "", "a2", "second").getSeq() == 2u);
  auto pulled = bob->pull("dm/alice/bob", 0);
  require_ok(pulled);
  BOOST_TEST_REQUIRE(pulled.messages.size() == 2u);
  BOOST_TEST(pulled.messages[0].sender == "alice");
  BOOST_TEST(pulled.messages[0].body == "from the app");
  BOOST_TEST(starts_with(failure_of([&] { send("bob", "team", "a3", "x"); }),
                         "bad_request: give toUser or toGroup"));
  BOOST_TEST(starts_with(failure_of([&] { send("", "", "a3", "x"); }), "bad_request:"));
  BOOST_TEST(starts_with(failure_of([&] { send("bob", "", "a3", ""); }), "bad_request:"));
  BOOST_TEST(starts_with(failure_of([&] { send("", "nogroup", "a3", "x"); }), "not_found:"));
}

BOOST_AUTO_TEST_CASE(an_app_lists_and_kicks_a_users_sessions) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  auto users = engine_of(app, node).usersRequest().send().wait(app.wait()).getUsers();
  auto sessions = [&](const std::string& user) {
    auto req = users.sessionsRequest();
    req.setUser(user);
    std::vector<std::string> devices;
    auto answer = req.send().wait(app.wait());  // readers point into it: keep it
    for (auto s : answer.getSessions()) devices.push_back(s.getDevice());
    return devices;
  };
  auto kick = [&](const std::string& user, const std::string& device) {
    auto req = users.kickRequest();
    req.setUser(user);
    req.setDevice(device);
    return req.send().wait(app.wait()).getKicked();
  };
  BOOST_TEST(sessions("dave").empty());
  BOOST_TEST(kick("dave", "") == 0u);  // offline: nothing to end
  const auto before_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  auto phone = node.login("dave", "phone");
  auto laptop = node.login("dave", "laptop");
  BOOST_TEST((sessions("dave") == std::vector<std::string>{"phone", "laptop"}));
  {
    auto req = users.sessionsRequest();
    req.setUser("dave");
    auto answer = req.send().wait(app.wait());
    auto first = answer.getSessions()[0];
    BOOST_TEST(first.getSinceMs() >= before_ms);
    BOOST_TEST(first.getDeviceType() == static_cast<std::uint16_t>(wire::DeviceType::BOT));
  }
  BOOST_TEST(kick("dave", "phone") == 1u);
  auto told = phone->next_push(std::chrono::seconds(10));
  BOOST_TEST_REQUIRE(told.has_value());
  BOOST_TEST((told->what == client::push::kind::kicked));
  BOOST_TEST((told->reason == wire::KickReason::KICKED_BY_APP));
  BOOST_TEST((sessions("dave") == std::vector<std::string>{"laptop"}));
  require_ok(laptop->send_to_user("erin", "l1", "still here"));  // the other device stays
  BOOST_TEST(kick("dave", "") == 1u);
  BOOST_TEST(sessions("dave").empty());
  BOOST_TEST(starts_with(failure_of([&] { kick("no/one", ""); }), "bad_request: invalid user id"));
  BOOST_TEST(starts_with(failure_of([&] { sessions(""); }), "bad_request: invalid user id"));
}

BOOST_AUTO_TEST_CASE(cluster_status_reports_a_single_node_and_its_figures) {
  testing::embedded_node node(with_app_port());
  auto alice = node.login("alice");
  require_ok(alice->send_to_user("bob", "s1", "counted"));
  app_client app(node.node().app_port());
  auto cluster = engine_of(app, node).clusterRequest().send().wait(app.wait()).getCluster();
  auto answer = cluster.statusRequest().send().wait(app.wait());
  auto status = answer.getStatus();
  BOOST_TEST(std::string(status.getNode().cStr()) == "local");
  BOOST_TEST(status.getMapEpoch() == node.node().stats().map_epoch);
  BOOST_TEST(status.getShards() == server::node_options{}.shard_count);
  BOOST_TEST_REQUIRE(status.getOwners().size() == 1u);
  BOOST_TEST(std::string(status.getOwners()[0].getNode().cStr()) == "local");
  BOOST_TEST(status.getOwners()[0].getShards() == status.getShards());
  BOOST_TEST(status.getConnections() == 1u);
  BOOST_TEST(status.getLogins() == 1u);
  BOOST_TEST(status.getMessagesSent() == 1u);
  BOOST_TEST(status.getServing());
}

BOOST_AUTO_TEST_SUITE_END()
