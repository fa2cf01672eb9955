// The app port (schema/app.capnp) against a real node: authentication, tokens, groups and
// sending as a user, called over Cap'n Proto RPC as an app server would.
#define BOOST_TEST_MODULE app
#include <boost/test/unit_test.hpp>

#include "../app_client.hpp"
#include "../hook_app.hpp"
#include "../support.hpp"
#include "parley/runtime/token.hpp"
#include "parley/testing/embedded_node.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <tuple>
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
    BOOST_TEST(std::string(first.getNode().cStr()) == "local");
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

/// The app's groups capability, with helpers for the calls the case below makes.
struct group_calls {
  group_calls(test_support::app_client& a, app::Engine::Client engine)
      : app(a), groups(engine.groupsRequest().send().wait(a.wait()).getGroups()) {}

  static void fill(capnp::List<capnp::Text>::Builder list, const std::vector<std::string>& xs) {
    for (unsigned i = 0; i < xs.size(); ++i) list.set(i, xs[i]);
  }
  void create(const std::string& group, const std::string& owner) {
    auto req = groups.createRequest();
    req.setOwner(owner);
    req.setGroup(group);
    req.setName("Club");
    req.send().wait(app.wait());
  }
  std::uint32_t add(const std::string& group, const std::vector<std::string>& members) {
    auto req = groups.addMembersRequest();
    req.setGroup(group);
    fill(req.initMembers(static_cast<unsigned>(members.size())), members);
    return req.send().wait(app.wait()).getMembers();
  }
  std::uint32_t remove(const std::string& group, const std::vector<std::string>& members) {
    auto req = groups.removeMembersRequest();
    req.setGroup(group);
    fill(req.initMembers(static_cast<unsigned>(members.size())), members);
    return req.send().wait(app.wait()).getRemoved();
  }
  void set_role(const std::string& group, const std::string& user, wire::GroupRole role) {
    auto req = groups.setRoleRequest();
    req.setGroup(group);
    req.setUser(user);
    req.setRole(role);
    req.send().wait(app.wait());
  }
  void transfer(const std::string& group, const std::string& heir) {
    auto req = groups.transferRequest();
    req.setGroup(group);
    req.setNewOwner(heir);
    req.send().wait(app.wait());
  }
  std::uint32_t dismiss(const std::string& group) {
    auto req = groups.dismissRequest();
    req.setGroup(group);
    return req.send().wait(app.wait()).getMembers();
  }
  /// (owner, member count, name) of `group`.
  std::tuple<std::string, std::uint32_t, std::string> info(const std::string& group) {
    auto req = groups.infoRequest();
    req.setGroup(group);
    auto answer = req.send().wait(app.wait());
    auto i = answer.getInfo();
    BOOST_TEST(i.getCreatedMs() > 0u);
    return {i.getOwner().cStr(), i.getMembers(), i.getName().cStr()};
  }
  /// "user:role" of one page, and whether more follow.
  std::pair<std::vector<std::string>, bool> members(const std::string& group,
                                                    const std::string& after, std::uint32_t limit) {
    auto req = groups.membersRequest();
    req.setGroup(group);
    req.setAfter(after);
    req.setLimit(limit);
    auto answer = req.send().wait(app.wait());
    std::vector<std::string> out;
    for (auto m : answer.getMembers()) {
      out.push_back(std::string(m.getUser().cStr()) + ":" +
                    std::to_string(static_cast<int>(m.getRole())));
    }
    return {out, answer.getMore()};
  }

  test_support::app_client& app;
  app::Groups::Client groups;
};

/// The next inbox event pushed to `c` (fails the case if none comes).
client::inbox_event event_told(client::connection& c) {
  for (;;) {
    auto told = c.next_push(std::chrono::seconds(10));
    BOOST_TEST_REQUIRE(told.has_value());
    if (told->what == client::push::kind::event) return told->event;
    BOOST_TEST_REQUIRE((told->what == client::push::kind::message));  // skipped
  }
}

BOOST_AUTO_TEST_CASE(an_app_manages_a_groups_members_roles_and_life) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  group_calls g(app, engine_of(app, node));
  g.create("club", "olga");
  auto pat = node.login("pat");
  BOOST_TEST(g.add("club", {"pat", "quinn", "pat", "rita"}) == 4u);
  BOOST_TEST((event_told(*pat).kind == wire::InboxEventKind::GROUP_JOINED));
  BOOST_TEST(g.add("club", {"pat"}) == 4u);  // already in: nothing changes
  require_ok(pat->send_to_group("club", "p1", "added by the app"));
  // Roles: the app has the owner's authority; the owner's own role moves only by a transfer.
  g.set_role("club", "pat", wire::GroupRole::ADMIN);
  auto promoted = event_told(*pat);
  BOOST_TEST((promoted.kind == wire::InboxEventKind::ROLE_CHANGED));
  BOOST_TEST((promoted.role == wire::GroupRole::ADMIN));
  BOOST_TEST(promoted.group == "club");
  require_ok(pat->add_member("club", "sam"));  // an admin now
  BOOST_TEST(starts_with(failure_of([&] { g.set_role("club", "pat", wire::GroupRole::OWNER); }),
                         "bad_request: a role is member or admin"));
  BOOST_TEST(starts_with(failure_of([&] { g.set_role("club", "olga", wire::GroupRole::MEMBER); }),
                         "forbidden: the owner's role changes only by a transfer"));
  BOOST_TEST(starts_with(failure_of([&] { g.set_role("club", "zed", wire::GroupRole::ADMIN); }),
                         "not_member:"));
  g.transfer("club", "quinn");
  BOOST_TEST((g.info("club") == std::make_tuple(std::string("quinn"), 5u, std::string("Club"))));
  // Pages by user id: olga is an admin now, quinn the owner.
  auto [first, more] = g.members("club", "", 2);
  BOOST_TEST((first == std::vector<std::string>{"olga:1", "pat:1"}));
  BOOST_TEST(more);
  auto [second, more2] = g.members("club", "pat", 2);
  BOOST_TEST((second == std::vector<std::string>{"quinn:2", "rita:0"}));
  BOOST_TEST(more2);
  auto [last, more3] = g.members("club", "rita", 0);
  BOOST_TEST((last == std::vector<std::string>{"sam:0"}));
  BOOST_TEST(!more3);
  // Removing: non-members are skipped; the removed cannot send.
  BOOST_TEST(g.remove("club", {"rita", "nobody"}) == 1u);
  BOOST_TEST(
      (node.login("rita")->send_to_group("club", "r1", "x").code == wire::ErrorCode::NOT_MEMBER));
  // Dismissing: every member is told, the group is gone, its id free again.
  BOOST_TEST(g.dismiss("club") == 4u);
  auto gone = event_told(*pat);
  BOOST_TEST((gone.kind == wire::InboxEventKind::GROUP_DISMISSED));
  BOOST_TEST((pat->send_to_group("club", "p2", "x").code == wire::ErrorCode::NOT_FOUND));
  BOOST_TEST(starts_with(failure_of([&] { g.info("club"); }), "not_found: no group club"));
  BOOST_TEST(starts_with(failure_of([&] { g.add("club", {"pat"}); }), "not_found:"));
  BOOST_TEST(starts_with(failure_of([&] { g.dismiss("club"); }), "not_found:"));
  g.create("club", "pat");
  BOOST_TEST(std::get<0>(g.info("club")) == "pat");
  // Bad arguments change nothing.
  BOOST_TEST(starts_with(failure_of([&] { g.add("c/lub", {"x"}); }), "bad_request: invalid group"));
  BOOST_TEST(starts_with(failure_of([&] { g.add("club", {"bad id"}); }), "bad_request:"));
  BOOST_TEST(starts_with(failure_of([&] { g.members("club", "bad id", 1); }), "bad_request:"));
  BOOST_TEST(starts_with(failure_of([&] { g.add("club", std::vector<std::string>(1001, "u")); }),
                         "limit_exceeded:"));
  BOOST_TEST(std::get<1>(g.info("club")) == 1u);
}

BOOST_AUTO_TEST_CASE(inspection_reports_active_and_passivated_entities_without_waking_them) {
  auto opts = with_app_port();
  opts.actors.idle_timeout = std::chrono::milliseconds(100);
  testing::embedded_node node(opts);
  app_client app(node.node().app_port());
  auto inspection =
      engine_of(app, node).inspectionRequest().send().wait(app.wait()).getInspection();
  // (active, figures by name) of one entity.
  auto inspect = [&](const std::string& entity) {
    auto req = inspection.inspectRequest();
    req.setEntity(entity);
    auto answer = req.send().wait(app.wait());
    auto r = answer.getReport();
    BOOST_TEST(std::string(r.getEntity().cStr()) == entity);
    BOOST_TEST(std::string(r.getNode().cStr()) == "local");
    std::map<std::string, std::uint64_t> figures;
    for (auto f : r.getFigures()) figures[f.getName().cStr()] = f.getValue();
    if (!r.getActive()) BOOST_TEST(r.getMailbox() == 0u);
    return std::make_pair(r.getActive(), figures);
  };
  auto active_now = [&](const std::string& prefix) {
    auto req = inspection.listRequest();
    req.setPrefix(prefix);
    auto answer = req.send().wait(app.wait());
    BOOST_TEST(std::string(answer.getNode().cStr()) == "local");
    std::vector<std::string> ids;
    for (auto id : answer.getEntities()) ids.push_back(id.cStr());
    return ids;
  };
  auto alice = node.login("alice");
  auto bob = node.login("bob");
  require_ok(alice->send_to_user("bob", "m1", "one"));
  require_ok(alice->send_to_user("bob", "m2", "two"));
  auto [active, figures] = inspect("conv/dm/alice/bob");
  BOOST_TEST(active);
  BOOST_TEST(figures["last_seq"] == 2u);
  BOOST_TEST(figures["dedupe_entries"] == 2u);
  BOOST_TEST(inspect("user/bob").second["sessions"] == 1u);
  BOOST_TEST((active_now("conv/") == std::vector<std::string>{"conv/dm/alice/bob"}));
  // Idle: the conversation passivates; inspecting it reads the store and leaves it asleep.
  BOOST_TEST_REQUIRE(testing::wait_until([&] { return active_now("conv/").empty(); }));
  std::tie(active, figures) = inspect("conv/dm/alice/bob");
  BOOST_TEST(!active);
  BOOST_TEST(figures["last_seq"] == 2u);
  BOOST_TEST(figures["dedupe_entries"] == 2u);
  BOOST_TEST(active_now("conv/").empty());
  std::tie(active, figures) = inspect("user/nobody");
  BOOST_TEST(!active);
  BOOST_TEST(figures["inbox_head"] == 0u);
  BOOST_TEST(figures["sessions"] == 0u);
  BOOST_TEST(starts_with(failure_of([&] { inspect("nothing/x"); }), "bad_request: invalid entity"));
  BOOST_TEST(starts_with(failure_of([&] { inspect("user/"); }), "bad_request:"));
}

BOOST_AUTO_TEST_CASE(system_messages_reach_a_group_and_the_app_reads_any_history) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  auto engine = engine_of(app, node);
  auto messages = engine.messagesRequest().send().wait(app.wait()).getMessages();
  group_calls g(app, engine);
  g.create("hall", "olga");
  g.add("hall", {"pat"});
  auto pat = node.login("pat");
  auto system = [&](const std::string& group, const std::string& id, const std::string& body) {
    auto req = messages.sendAsSystemRequest();
    req.setToGroup(group);
    req.setClientMsgId(id);
    req.setBody(test_support::data_of(body));
    return req.send().wait(app.wait()).getSeq();
  };
  require_ok(pat->send_to_group("hall", "p1", "hi"));
  BOOST_TEST(system("hall", "s1", "welcome, pat") == 2u);
  BOOST_TEST(system("hall", "s1", "welcome, pat") == 2u);  // a resend: the same message
  // Pat's device gets it pushed (after its own message's echo, if any) with an empty sender.
  for (;;) {
    auto told = pat->next_push(std::chrono::seconds(10));
    BOOST_TEST_REQUIRE(told.has_value());
    if (told->what != client::push::kind::message || told->msg.seq != 2u) continue;
    BOOST_TEST(told->msg.sender == "");
    BOOST_TEST(told->msg.body == "welcome, pat");
    break;
  }
  BOOST_TEST(starts_with(failure_of([&] { system("", "s2", "x"); }),
                         "bad_request: give toGroup or toUser"));
  BOOST_TEST(starts_with(failure_of([&] { system("nohall", "s2", "x"); }), "not_found:"));
  BOOST_TEST(starts_with(failure_of([&] { system("hall", "s2", ""); }), "bad_request:"));
  // History, newest first, paged; the app reads direct conversations too.
  require_ok(pat->send_to_user("quinn", "d1", "private"));
  auto history = [&](const std::string& conversation, std::uint64_t before, std::uint32_t limit) {
    auto req = messages.historyRequest();
    req.setConversation(conversation);
    req.setBeforeSeq(before);
    req.setLimit(limit);
    auto answer = req.send().wait(app.wait());
    std::vector<std::string> bodies;
    for (auto m : answer.getMessages()) {
      bodies.push_back(
          std::string(m.getSender().cStr()) + ":" +
          std::string(reinterpret_cast<const char*>(m.getBody().begin()), m.getBody().size()));
    }
    return std::make_pair(bodies, answer.getMore());
  };
  auto [newest, more] = history("group/hall", 0, 1);
  BOOST_TEST((newest == std::vector<std::string>{":welcome, pat"}));
  BOOST_TEST(more);
  auto [older, more2] = history("group/hall", 2, 0);
  BOOST_TEST((older == std::vector<std::string>{"pat:hi"}));
  BOOST_TEST(!more2);
  BOOST_TEST((history("dm/pat/quinn", 0, 0).first == std::vector<std::string>{"pat:private"}));
  BOOST_TEST(history("dm/a/b", 0, 0).first.empty());
  BOOST_TEST(starts_with(failure_of([&] { history("nowhere", 0, 0); }),
                         "bad_request: invalid conversation id"));
}

BOOST_AUTO_TEST_CASE(a_system_message_to_one_user_lands_in_its_own_conversation) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  auto engine = engine_of(app, node);
  auto messages = engine.messagesRequest().send().wait(app.wait()).getMessages();
  auto to_user = [&](const std::string& user, const std::string& group, const std::string& id,
                     const std::string& body) {
    auto req = messages.sendAsSystemRequest();
    req.setToUser(user);
    req.setToGroup(group);
    req.setClientMsgId(id);
    req.setBody(test_support::data_of(body));
    auto answer = req.send().wait(app.wait());
    return std::make_pair(std::string(answer.getConversation().cStr()), answer.getSeq());
  };
  // Rita is offline: the message waits in sys/rita, announced in her inbox.
  BOOST_TEST((to_user("rita", "", "w1", "welcome") ==
              std::make_pair(std::string("sys/rita"), std::uint64_t{1})));
  BOOST_TEST((to_user("rita", "", "w1", "welcome") ==
              std::make_pair(std::string("sys/rita"), std::uint64_t{1})));
  auto rita = node.login("rita");
  auto inbox = rita->sync(0);
  require_ok(inbox);
  BOOST_TEST_REQUIRE(inbox.events.size() == 1u);
  BOOST_TEST((inbox.events[0].kind == wire::InboxEventKind::CONVERSATION_STARTED));
  BOOST_TEST(inbox.events[0].conversation == "sys/rita");
  auto missed = rita->pull("sys/rita", 0);
  require_ok(missed);
  BOOST_TEST_REQUIRE(missed.messages.size() == 1u);
  BOOST_TEST(missed.messages[0].sender == "");
  BOOST_TEST(missed.messages[0].body == "welcome");
  // Online: the next one is pushed.
  BOOST_TEST((to_user("rita", "", "w2", "your code: 4711") ==
              std::make_pair(std::string("sys/rita"), std::uint64_t{2})));
  auto told = rita->next_push(std::chrono::seconds(10));
  BOOST_TEST_REQUIRE(told.has_value());
  BOOST_TEST((told->what == client::push::kind::message));
  BOOST_TEST(told->msg.conversation == "sys/rita");
  BOOST_TEST(told->msg.seq == 2u);
  BOOST_TEST(told->msg.body == "your code: 4711");
  // Nobody else reads it, and no client can write to it.
  auto sam = node.login("sam");
  BOOST_TEST((sam->pull("sys/rita", 0).code == wire::ErrorCode::FORBIDDEN));
  BOOST_TEST((sam->history_before_seq("sys/rita", 0).code == wire::ErrorCode::FORBIDDEN));
  BOOST_TEST((rita->pull("sys/sam", 0).code == wire::ErrorCode::FORBIDDEN));
  BOOST_TEST(starts_with(failure_of([&] { to_user("rita", "hall", "w3", "x"); }),
                         "bad_request: give toGroup or toUser"));
  BOOST_TEST(starts_with(failure_of([&] { to_user("no/body", "", "w3", "x"); }),
                         "bad_request: invalid user id"));
}

/// The app's tokens and users capabilities, with helpers for the calls the cases below make.
struct access_calls {
  access_calls(test_support::app_client& a, app::Engine::Client engine)
      : app(a),
        tokens(engine.tokensRequest().send().wait(a.wait()).getTokens()),
        users(engine.usersRequest().send().wait(a.wait()).getUsers()) {}

  std::string issue(const std::string& user, std::int32_t device_type = -1) {
    auto req = tokens.issueRequest();
    req.setUser(user);
    req.setTtlSeconds(3600);
    req.setDeviceType(device_type);
    return req.send().wait(app.wait()).getToken().cStr();
  }
  std::uint32_t revoke(const std::string& user) {
    auto req = tokens.revokeRequest();
    req.setUser(user);
    return req.send().wait(app.wait()).getKicked();
  }
  std::uint32_t ban(const std::string& user, std::uint64_t until_ms, const std::string& reason) {
    auto req = users.banRequest();
    req.setUser(user);
    req.setUntilUnixMs(until_ms);
    req.setReason(reason);
    return req.send().wait(app.wait()).getKicked();
  }
  bool unban(const std::string& user) {
    auto req = users.unbanRequest();
    req.setUser(user);
    return req.send().wait(app.wait()).getWasBanned();
  }

  test_support::app_client& app;
  app::Tokens::Client tokens;
  app::Users::Client users;
};

using test_support::unix_ms_now;

/// The kick `c` was told of (fails the case if none comes).
client::push kick_told(client::connection& c) {
  auto told = c.next_push(std::chrono::seconds(10));
  BOOST_TEST_REQUIRE(told.has_value());
  BOOST_TEST_REQUIRE((told->what == client::push::kind::kicked));
  return *told;
}

BOOST_AUTO_TEST_CASE(a_revoked_token_is_refused_and_its_sessions_end) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  access_calls calls(app, engine_of(app, node));
  const std::string old_token = calls.issue("mia");
  auto phone = node.connect();
  require_ok(phone->login(old_token, "phone"));
  BOOST_TEST(calls.revoke("mia") == 1u);
  BOOST_TEST((kick_told(*phone).reason == wire::KickReason::TOKEN_REVOKED));
  auto again = node.connect()->login(old_token, "phone");
  BOOST_TEST((again.code == wire::ErrorCode::TOKEN_REVOKED));
  BOOST_TEST(again.error == "the token was revoked by the app; log in with a new one");
  // Tokens issued from now on work; other users' tokens never stopped working.
  auto fresh = node.connect();
  require_ok(fresh->login(calls.issue("mia"), "phone"));
  require_ok(node.connect()->login(calls.issue("noah"), "phone"));
  BOOST_TEST(calls.revoke("nobody-online") == 0u);
  BOOST_TEST(starts_with(failure_of([&] { calls.revoke("no/one"); }), "bad_request:"));
  // The revocation is durable: it holds after a restart.
  node.restart();
  BOOST_TEST((node.connect()->login(old_token, "phone").code == wire::ErrorCode::TOKEN_REVOKED));
}

BOOST_AUTO_TEST_CASE(the_app_sets_profiles_and_relations_as_the_users_clients_would) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  access_calls calls(app, engine_of(app, node));
  // A profile from the app's own user database; getProfile shows every field.
  {
    auto req = calls.users.setProfileRequest();
    req.setUser("ria");
    auto p = req.initProfile();
    p.setDisplayName("Ria Sen");
    auto fields = p.initFields(1);
    fields[0].setKey("team");
    fields[0].setValue("ops");
    fields[0].setVisibility(wire::Visibility::NOBODY);
    req.send().wait(app.wait());
  }
  {
    auto req = calls.users.getProfileRequest();
    req.setUser("ria");
    auto response = req.send().wait(app.wait());  // the reader below points into it
    auto got = response.getProfile();
    BOOST_TEST(std::string(got.getDisplayName().cStr()) == "Ria Sen");
    BOOST_TEST_REQUIRE(got.getFields().size() == 1u);
    BOOST_TEST(std::string(got.getFields()[0].getValue().cStr()) == "ops");
  }
  auto sam = node.login("sam");
  auto seen = sam->get_profiles({"ria"});
  require_ok(seen);
  BOOST_TEST(seen.profiles.at(0).display_name == "Ria Sen");
  BOOST_TEST(seen.profiles.at(0).fields.empty());  // nobody else sees the field
  // Friends made by the app: a request as one user, an accept as the other.
  auto relate = [&](const std::string& user, const std::string& other, app::RelationAction a) {
    auto req = calls.users.relateRequest();
    req.setUser(user);
    req.setOther(other);
    req.setAction(a);
    return req.send().wait(app.wait()).getRelation();
  };
  BOOST_TEST((relate("ria", "sam", app::RelationAction::REQUEST) == wire::Relation::REQUEST_SENT));
  BOOST_TEST((relate("sam", "ria", app::RelationAction::ACCEPT) == wire::Relation::FRIEND));
  auto mine = sam->list_relations();
  require_ok(mine);
  BOOST_TEST_REQUIRE(mine.relations.size() == 1u);
  BOOST_TEST((mine.relations[0].relation == wire::Relation::FRIEND));
  // Bad input: a clear error, nothing changed.
  BOOST_TEST(starts_with(failure_of([&] { relate("ria", "ria", app::RelationAction::BLOCK); }),
                         "bad_request:"));
  BOOST_TEST(starts_with(failure_of([&] {
                           auto req = calls.users.setProfileRequest();
                           req.setUser("ria");
                           req.initProfile().setAvatarUrl("ftp://nope");
                           req.send().wait(app.wait());
                         }),
                         "bad_request:"));
  BOOST_TEST(sam->get_profiles({"ria"}).profiles.at(0).display_name == "Ria Sen");
}

BOOST_AUTO_TEST_CASE(a_token_bound_to_a_device_type_logs_in_only_as_that_type) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  access_calls calls(app, engine_of(app, node));
  const auto android = static_cast<std::int32_t>(wire::DeviceType::ANDROID);
  const std::string token = calls.issue("ola", android);
  auto wrong = node.connect()->login(token, "desk", wire::DeviceType::DESKTOP);
  BOOST_TEST((wrong.code == wire::ErrorCode::TOKEN_INVALID));
  BOOST_TEST(wrong.error == "the token is for another device type");
  require_ok(node.connect()->login(token, "phone", wire::DeviceType::ANDROID));
  BOOST_TEST(starts_with(failure_of([&] { calls.issue("ola", 999); }), "bad_request: deviceType"));
}

BOOST_AUTO_TEST_CASE(a_banned_user_is_kicked_and_refused_until_unbanned) {
  testing::embedded_node node(with_app_port());
  app_client app(node.node().app_port());
  access_calls calls(app, engine_of(app, node));
  auto laptop = node.login("pia", "laptop");
  auto phone = node.login("pia", "phone");
  BOOST_TEST(calls.ban("pia", 0, "spam") == 2u);
  for (auto* c : {laptop.get(), phone.get()}) {
    auto told = kick_told(*c);
    BOOST_TEST((told.reason == wire::KickReason::BANNED));
    BOOST_TEST(told.detail == "spam");
  }
  const std::string token = calls.issue("pia");  // issued after the ban: still refused
  auto refused = node.connect()->login(token, "phone");
  BOOST_TEST((refused.code == wire::ErrorCode::BANNED));
  BOOST_TEST(refused.error == "banned: spam");
  // A second ban replaces the first: now with an end, which the refusal names.
  BOOST_TEST(calls.ban("pia", 4102444800000, "flooding") == 0u);  // 2100-01-01
  BOOST_TEST(node.connect()->login(token, "phone").error ==
             "banned until 2100-01-01T00:00:00Z: flooding");
  BOOST_TEST(calls.unban("pia"));
  require_ok(node.connect()->login(token, "phone"));
  BOOST_TEST(!calls.unban("pia"));  // none in force any more
  // A ban whose end has passed is not in force.
  auto tablet = node.connect();
  require_ok(tablet->login(token, "tablet"));
  BOOST_TEST(calls.ban("pia", unix_ms_now() - 1000, "over") == 0u);  // nobody kicked
  require_ok(tablet->send_to_user("quin", "t1", "still online"));
  require_ok(node.connect()->login(token, "laptop"));
  BOOST_TEST(!calls.unban("pia"));
  // Other users are untouched; bad arguments change nothing.
  require_ok(node.connect()->login(calls.issue("quin"), "phone"));
  BOOST_TEST(starts_with(failure_of([&] { calls.ban("quin", 0, std::string(257, 'x')); }),
                         "bad_request: reason"));
  BOOST_TEST(
      starts_with(failure_of([&] { calls.ban("quin", 0, "line\nbreak"); }), "bad_request: reason"));
  BOOST_TEST(starts_with(failure_of([&] { calls.unban(""); }), "bad_request: invalid user id"));
  require_ok(node.connect()->login(calls.issue("quin"), "laptop"));
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

// -- hooks ---------------------------------------------------------------------------------------

namespace {

using test_support::hook_app;
using test_support::install_filter;
using test_support::mailbox;
using test_support::notice;
using test_support::notice_sink;
using test_support::word_filter;

std::vector<std::string> bodies_of(const client::response& pulled) {
  std::vector<std::string> out;
  for (auto& m : pulled.messages) out.push_back(m.body);
  return out;
}

/// A bot that answers each message with "echo: <body>" through Messages.sendAsUser.
class echo_bot final : public app::BotHook::Server {
 public:
  echo_bot(app::Messages::Client messages, mailbox<std::string>& seen)
      : messages_(kj::mv(messages)), seen_(seen) {}
  kj::Promise<void> receive(ReceiveContext context) override {
    kj::Promise<void> answers = kj::READY_NOW;
    for (auto m : context.getParams().getMessages()) {
      const std::string body(reinterpret_cast<const char*>(m.getMessage().getBody().begin()),
                             m.getMessage().getBody().size());
      seen_.add(std::string(m.getBot().cStr()) + "<" + m.getMessage().getSender().cStr() + ":" +
                body);
      auto req = messages_.sendAsUserRequest();
      req.setSender(m.getBot());
      req.setToUser(m.getMessage().getSender());
      req.setClientMsgId("re-" + std::to_string(m.getMessage().getSeq()));
      const std::string reply = "echo: " + body;
      req.setBody(test_support::data_of(reply));
      answers = answers.then([req = kj::mv(req)]() mutable { return req.send().ignoreResult(); });
    }
    return answers;
  }

 private:
  app::Messages::Client messages_;
  mailbox<std::string>& seen_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(app_hooks)

BOOST_AUTO_TEST_CASE(a_before_send_hook_allows_rejects_and_rewrites_in_order) {
  testing::embedded_node node(with_app_port());
  std::atomic<int> calls{0};
  hook_app app(node.node().app_port(), secret_of(node), install_filter(calls, 0, false));
  auto alice = node.login("alice");
  auto bob = node.login("bob");

  auto ok = alice->send_to_user("bob", "m1", "hello");
  require_ok(ok);
  BOOST_TEST(ok.seq == 1u);
  auto refused = alice->send_to_user("bob", "m2", "bad word");
  BOOST_TEST((refused.code == wire::ErrorCode::REJECTED));
  BOOST_TEST(refused.error == "no bad words, alice");
  auto rewritten = alice->send_to_user("bob", "m3", "rewrite me");
  require_ok(rewritten);
  BOOST_TEST(rewritten.seq == 2u);  // the rejected message took no seq
  BOOST_TEST(calls.load() == 3);
  // A resend of a stored message is answered from the dedupe record, not judged again.
  BOOST_TEST(alice->send_to_user("bob", "m1", "hello").seq == 1u);
  BOOST_TEST(calls.load() == 3);
  // The app's own sends are not judged.
  app_client direct(node.node().app_port());
  auto messages =
      engine_of(direct, node).messagesRequest().send().wait(direct.wait()).getMessages();
  auto req = messages.sendAsUserRequest();
  req.setSender("alice");
  req.setToUser("bob");
  req.setClientMsgId("app-1");
  req.setBody(test_support::data_of("bad but from the app"));
  BOOST_TEST(req.send().wait(direct.wait()).getSeq() == 3u);
  BOOST_TEST(calls.load() == 3);

  auto pulled = bob->pull("dm/alice/bob", 0);
  require_ok(pulled);
  BOOST_TEST((bodies_of(pulled) ==
              std::vector<std::string>{"hello", "rewritten", "bad but from the app"}));
}

BOOST_AUTO_TEST_CASE(a_hook_that_does_not_answer_in_time_fails_closed_or_open) {
  testing::embedded_node node(with_app_port());
  std::atomic<int> calls{0};
  auto alice = node.login("alice");
  {
    hook_app closed(node.node().app_port(), secret_of(node), install_filter(calls, 100, false));
    auto late = alice->send_to_user("bob", "s1", "slow");
    BOOST_TEST((late.code == wire::ErrorCode::UNAVAILABLE));
    // A send behind the late one waited for it, then went through.
    require_ok(alice->send_to_user("bob", "s2", "fine"));
  }
  hook_app open(node.node().app_port(), secret_of(node), install_filter(calls, 100, true));
  auto late = alice->send_to_user("bob", "s3", "slow");
  require_ok(late);
  BOOST_TEST(late.seq == 2u);
  auto pulled = alice->pull("dm/alice/bob", 0);
  BOOST_TEST((bodies_of(pulled) == std::vector<std::string>{"fine", "slow"}));
}

BOOST_AUTO_TEST_CASE(a_vanished_app_fails_closed_or_open) {
  testing::embedded_node node(with_app_port());
  std::atomic<int> calls{0};
  auto alice = node.login("alice");
  { hook_app gone(node.node().app_port(), secret_of(node), install_filter(calls, 0, false)); }
  auto refused = alice->send_to_user("bob", "v1", "hello");
  BOOST_TEST((refused.code == wire::ErrorCode::UNAVAILABLE));
  { hook_app gone(node.node().app_port(), secret_of(node), install_filter(calls, 0, true)); }
  require_ok(alice->send_to_user("bob", "v2", "hello"));
  BOOST_TEST(calls.load() == 0);
  // Cleared, nothing is asked and everything is stored.
  app_client direct(node.node().app_port());
  auto hooks = engine_of(direct, node).hooksRequest().send().wait(direct.wait()).getHooks();
  hooks.clearBeforeSendRequest().send().wait(direct.wait());
  require_ok(alice->send_to_user("bob", "v3", "bad, but nobody asks"));
  // Bad arguments.
  BOOST_TEST(starts_with(failure_of([&] {
                           auto req = hooks.setBeforeSendRequest();
                           req.setHook(kj::heap<word_filter>(calls));
                           req.setTimeoutMs(10001);
                           req.send().wait(direct.wait());
                         }),
                         "bad_request: timeoutMs"));
}

BOOST_AUTO_TEST_CASE(offline_push_is_called_exactly_for_the_recipients_offline) {
  testing::embedded_node node(with_app_port());
  mailbox<notice> notices;
  hook_app app(node.node().app_port(), secret_of(node),
               [&](app::Engine::Client engine, kj::WaitScope& ws) {
                 auto hooks = engine.hooksRequest().send().wait(ws).getHooks();
                 auto req = hooks.setOfflinePushRequest();
                 req.setHook(kj::heap<notice_sink>(notices));
                 req.send().wait(ws);
               });
  auto olga = node.login("olga");
  auto bob = node.login("bob");
  require_ok(olga->create_group("crew", "Crew"));
  for (auto user : {"bob", "carol", "dave"}) require_ok(olga->add_member("crew", user));
  require_ok(olga->send_to_group("crew", "g1", "standup at ten"));
  require_ok(olga->send_to_user("erin", "d1", "ping"));  // erin is offline too
  // The group's and erin's notices come from different actors, in no set order: wait for all
  // three expected, then check that they are exactly those (bob and olga are online).
  auto all = notices.wait_until([](const std::vector<notice>& got) {
    std::set<std::string> who;
    for (auto& n : got) who.insert(n.recipient);
    return who.count("erin") + who.count("carol") + who.count("dave") == 3;
  });
  std::multiset<std::string> told;
  for (auto& n : all) {
    told.insert(n.recipient + "@" + n.conversation + "#" + std::to_string(n.seq) + " from " +
                n.sender + ": " + n.preview);
  }
  BOOST_TEST((told == std::multiset<std::string>{"carol@group/crew#1 from olga: standup at ten",
                                                 "dave@group/crew#1 from olga: standup at ten",
                                                 "erin@dm/erin/olga#1 from olga: ping"}));
}

BOOST_AUTO_TEST_CASE(a_bot_gets_its_messages_and_answers_through_the_app) {
  testing::embedded_node node(with_app_port());
  mailbox<std::string> seen;
  hook_app app(node.node().app_port(), secret_of(node),
               [&](app::Engine::Client engine, kj::WaitScope& ws) {
                 auto messages = engine.messagesRequest().send().wait(ws).getMessages();
                 auto hooks = engine.hooksRequest().send().wait(ws).getHooks();
                 auto req = hooks.setBotsRequest();
                 req.initBots(1).set(0, "helper");
                 req.setHook(kj::heap<echo_bot>(messages, seen));
                 req.send().wait(ws);
               });
  auto alice = node.login("alice");
  require_ok(alice->send_to_user("helper", "q1", "what time is it?"));
  for (;;) {
    auto told = alice->next_push(std::chrono::seconds(10));
    BOOST_TEST_REQUIRE(told.has_value());
    if (told->what != client::push::kind::message) continue;
    BOOST_TEST(told->msg.sender == "helper");
    BOOST_TEST(told->msg.body == "echo: what time is it?");
    break;
  }
  BOOST_TEST((seen.items() == std::vector<std::string>{"helper<alice:what time is it?"}));
}

BOOST_AUTO_TEST_SUITE_END()

// -- events --------------------------------------------------------------------------------------

namespace {

/// "msg <conversation>#<seq>", "open <user>/<device>", "close <user>/<device>",
/// "group <group> <user> <kind number>".
std::string describe(app::Event::Reader e) {
  switch (e.which()) {
    case app::Event::MESSAGE_STORED:
      return "msg " + std::string(e.getMessageStored().getConversation().cStr()) + "#" +
             std::to_string(e.getMessageStored().getSeq());
    case app::Event::SESSION_OPENED:
      return "open " + std::string(e.getSessionOpened().getUser().cStr()) + "/" +
             e.getSessionOpened().getDevice().cStr();
    case app::Event::SESSION_CLOSED:
      return "close " + std::string(e.getSessionClosed().getUser().cStr()) + "/" +
             e.getSessionClosed().getDevice().cStr();
    case app::Event::GROUP_CHANGED:
      return "group " + std::string(e.getGroupChanged().getGroup().cStr()) + " " +
             e.getGroupChanged().getUser().cStr() + " " +
             std::to_string(static_cast<int>(e.getGroupChanged().getKind()));
  }
  return "?";
}

/// One delivered batch: its events' descriptions and the cursor that came with it.
struct batch_seen {
  std::vector<std::string> events;
  std::string cursor;
};

/// Records each batch as the app would process it: events and cursor together.
class event_recorder final : public app::EventListener::Server {
 public:
  explicit event_recorder(mailbox<batch_seen>& batches) : batches_(batches) {}
  kj::Promise<void> deliver(DeliverContext context) override {
    batch_seen b;
    for (auto e : context.getParams().getEvents()) b.events.push_back(describe(e));
    auto c = context.getParams().getCursor();
    b.cursor.assign(reinterpret_cast<const char*>(c.begin()), c.size());
    batches_.add(std::move(b));
    return kj::READY_NOW;
  }

 private:
  mailbox<batch_seen>& batches_;
};

std::vector<std::string> events_in(const std::vector<batch_seen>& batches) {
  std::vector<std::string> out;
  for (auto& b : batches) out.insert(out.end(), b.events.begin(), b.events.end());
  return out;
}

/// Subscribes from `cursor` with `filter` (messages, sessions, groups) and keeps the
/// subscription for as long as the app runs.
hook_app::setup_fn subscribe(mailbox<batch_seen>& batches, std::string cursor,
                             std::array<bool, 3> filter = {true, true, true}) {
  return [&batches, cursor, filter](app::Engine::Client engine, kj::WaitScope& ws) {
    auto feed = engine.eventsRequest().send().wait(ws).getEvents();
    auto req = feed.subscribeRequest();
    req.setCursor(test_support::data_of(cursor));
    req.initFilter().setMessages(filter[0]);
    req.getFilter().setSessions(filter[1]);
    req.getFilter().setGroups(filter[2]);
    req.setListener(kj::heap<event_recorder>(batches));
    req.setMaxBatch(2);
    hook_app::keep(req.send().wait(ws).getSubscription());
  };
}

std::string listed(const std::vector<std::string>& v) {
  std::string out;
  for (auto& item : v) out += (out.empty() ? "" : ", ") + item;
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& item) {
  return std::find(v.begin(), v.end(), item) != v.end();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(app_events)

BOOST_AUTO_TEST_CASE(an_app_that_reconnects_resumes_from_its_cursor_losing_nothing) {
  testing::embedded_node node(with_app_port());
  mailbox<batch_seen> first;
  std::vector<std::string> before;
  std::string cursor;
  auto alice = node.login("alice", "laptop");
  require_ok(alice->create_group("team", "Team"));
  require_ok(alice->add_member("team", "bob"));
  for (int i = 1; i <= 3; ++i) require_ok(alice->send_to_user("bob", "a" + std::to_string(i), "x"));
  {
    hook_app app(node.node().app_port(), secret_of(node), subscribe(first, ""));
    auto batches =
        first.wait_until([](auto& got) { return has(events_in(got), "msg dm/alice/bob#3"); });
    // What the app processed, and the cursor it stored with its last batch.
    before = events_in(batches);
    cursor = batches.back().cursor;
  }
  // While the app is away: more messages, and alice leaves.
  require_ok(alice->send_to_user("bob", "a4", "x"));
  require_ok(alice->send_to_group("team", "g1", "x"));
  alice.reset();
  mailbox<batch_seen> second;
  hook_app app(node.node().app_port(), secret_of(node), subscribe(second, cursor));
  // Shards are read independently, so events of different shards come in any order: wait for
  // as many as were written (9), then check that they are exactly those.
  auto after = events_in(
      second.wait_until([&](auto& got) { return before.size() + events_in(got).size() >= 9; }));
  std::multiset<std::string> all(before.begin(), before.end());
  all.insert(after.begin(), after.end());
  const std::string joined = std::to_string(static_cast<int>(wire::InboxEventKind::GROUP_JOINED));
  BOOST_TEST((all == std::multiset<std::string>{"open alice/laptop", "group team alice " + joined,
                                                "group team bob " + joined, "msg dm/alice/bob#1",
                                                "msg dm/alice/bob#2", "msg dm/alice/bob#3",
                                                "msg dm/alice/bob#4", "msg group/team#1",
                                                "close alice/laptop"}),
             "before the reconnect: " << listed(before) << "; after: " << listed(after));
  // Each shard's order is kept: the direct conversation's messages arrive by seq.
  std::vector<std::string> dm;
  for (auto& e : before)
    if (e.rfind("msg dm/", 0) == 0) dm.push_back(e);
  for (auto& e : after)
    if (e.rfind("msg dm/", 0) == 0) dm.push_back(e);
  BOOST_TEST((dm == std::vector<std::string>{"msg dm/alice/bob#1", "msg dm/alice/bob#2",
                                             "msg dm/alice/bob#3", "msg dm/alice/bob#4"}));
}

BOOST_AUTO_TEST_CASE(a_subscription_from_the_head_gets_new_events_of_the_kinds_asked) {
  testing::embedded_node node(with_app_port());
  auto alice = node.login("alice", "laptop");
  require_ok(alice->send_to_user("bob", "old", "before the subscription"));
  app_client direct(node.node().app_port());
  auto feed = engine_of(direct, node).eventsRequest().send().wait(direct.wait()).getEvents();
  auto answer = feed.headRequest().send().wait(direct.wait());  // the reader points into it
  auto head = answer.getCursor();
  const std::string cursor(reinterpret_cast<const char*>(head.begin()), head.size());
  BOOST_TEST(cursor.size() == 8u * server::node_options{}.shard_count);
  mailbox<batch_seen> seen;
  hook_app app(node.node().app_port(), secret_of(node),
               subscribe(seen, cursor, {true, false, false}));
  require_ok(alice->send_to_user("bob", "new-1", "x"));
  auto bob = node.login("bob", "phone");  // a session event: not asked for
  require_ok(alice->send_to_user("bob", "new-2", "x"));
  auto got = events_in(
      seen.wait_until([](auto& got) { return has(events_in(got), "msg dm/alice/bob#3"); }));
  BOOST_TEST((got == std::vector<std::string>{"msg dm/alice/bob#2", "msg dm/alice/bob#3"}));
  // Bad arguments.
  BOOST_TEST(starts_with(failure_of([&] {
                           auto req = feed.subscribeRequest();
                           req.setCursor(test_support::data_of("short"));
                           req.setListener(kj::heap<event_recorder>(seen));
                           req.send().wait(direct.wait());
                         }),
                         "bad_request: the cursor"));
}

BOOST_AUTO_TEST_SUITE_END()
