// The app port (schema/app.capnp) against a real node: authentication, tokens, groups and
// sending as a user, called over Cap'n Proto RPC as an app server would.
#define BOOST_TEST_MODULE app
#include <boost/test/unit_test.hpp>

#include "../support.hpp"
#include "parley/runtime/token.hpp"
#include "parley/testing/embedded_node.hpp"

#include "app.capnp.h"

#include <capnp/ez-rpc.h>

#include <string>
#include <vector>

using namespace parley;
using parley::test_support::require_ok;

namespace {

server::node_options with_app_port() {
  server::node_options o;
  o.app_enabled = true;  // on a free port
  return o;
}

/// What the node said in an RPC exception: "<code>: <message>" (the C++ client puts
/// "remote exception: " before it).
std::string said(const kj::Exception& e) {
  std::string text = e.getDescription().cStr();
  const std::string remote = "remote exception: ";
  return text.rfind(remote, 0) == 0 ? text.substr(remote.size()) : text;
}

/// Runs `call` and returns what the node said if it failed ("" if it succeeded).
template <class F>
std::string failure_of(F&& call) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(std::forward<F>(call))) {
    return said(*e);
  }
  return "";
}

/// An app server's connection to the node's app port.
struct app_client {
  explicit app_client(testing::embedded_node& node)
      : rpc("127.0.0.1", node.node().app_port()), bootstrap(rpc.getMain<app::Bootstrap>()) {}

  capnp::EzRpcClient rpc;
  app::Bootstrap::Client bootstrap;
  kj::WaitScope& wait() { return rpc.getWaitScope(); }

  /// authenticate(secret), or the RPC exception's description.
  kj::Maybe<app::Engine::Client> authenticate(const std::string& secret, std::string& failure) {
    auto req = bootstrap.authenticateRequest();
    req.setSecret(
        capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(secret.data()), secret.size()));
    kj::Maybe<app::Engine::Client> engine;
    KJ_IF_MAYBE (e,
                 kj::runCatchingExceptions([&] { engine = req.send().wait(wait()).getEngine(); })) {
      failure = said(*e);
    }
    return engine;
  }
};

std::string secret_of(const testing::embedded_node& node) {
  auto secret = runtime::load_secret(node.data_dir() + "/secret");
  BOOST_TEST_REQUIRE(secret.ok());
  return *secret;
}

app::Engine::Client engine_of(app_client& app, const testing::embedded_node& node) {
  std::string failure;
  auto engine = app.authenticate(secret_of(node), failure);
  KJ_IF_MAYBE (e, engine) {
    return *e;
  }
  BOOST_FAIL("authenticate failed: " + failure);
  throw std::logic_error("unreachable");
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

capnp::Data::Reader data(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(app_rpc)

BOOST_AUTO_TEST_CASE(only_the_secret_opens_the_engine_and_the_third_wrong_one_closes) {
  testing::embedded_node node(with_app_port());
  BOOST_TEST_REQUIRE(node.node().app_port() != 0u);
  {
    app_client app(node);
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
  app_client app(node);  // a new connection starts afresh
  auto engine = engine_of(app, node);
  auto tokens = engine.tokensRequest().send().wait(app.wait()).getTokens();
  auto req = tokens.issueRequest();
  req.setUser("alice");
  req.setTtlSeconds(60);
  BOOST_TEST(req.send().wait(app.wait()).getToken().size() > 0u);
}

BOOST_AUTO_TEST_CASE(issued_tokens_log_in_and_bad_arguments_get_a_code) {
  testing::embedded_node node(with_app_port());
  app_client app(node);
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
  app_client app(node);
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
  app_client app(node);
  auto messages = engine_of(app, node).messagesRequest().send().wait(app.wait()).getMessages();
  auto send = [&](const std::string& to_user, const std::string& to_group, const std::string& id,
                  const std::string& body) {
    auto req = messages.sendAsUserRequest();
    req.setSender("alice");
    req.setToUser(to_user);
    req.setToGroup(to_group);
    req.setClientMsgId(id);
    req.setBody(data(body));
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

BOOST_AUTO_TEST_SUITE_END()
