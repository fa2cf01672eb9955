// actors/: the entity actors driven directly, without a gateway or a socket: a store, a group
// committer, a router and the entities' own interfaces (requests as the connection sends them).
#include <boost/test/unit_test.hpp>

#include "parley/actors/entities.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/group_committer.hpp"
#include "parley/runtime/router.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/store/store.hpp"
#include "parley/testing/support.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <memory>
#include <variant>

using namespace parley;
using namespace parley::actors;

namespace {

constexpr std::uint32_t shards = 8;

/// A node's entity layer without its edge: what server/node.cpp assembles, minus the gateway.
class entities {
 public:
  explicit entities(actor_options options = {}) {
    store::options so;
    so.dir = dir_.path() + "/db";
    so.shard_count = shards;
    auto db = store::store::open(so);
    BOOST_TEST_REQUIRE(static_cast<bool>(db));
    db_ = std::move(*db);
    committer_ = std::make_unique<runtime::group_committer>(*db_, runtime::committer_options{});
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    register_message_types(cfg_);
    system_ = std::make_unique<caf::actor_system>(cfg_);
    svc_.system = system_.get();
    svc_.db = db_.get();
    svc_.committer = committer_.get();
    svc_.options = options;
    svc_.counters = &counters_;
    router_ = std::make_unique<runtime::router>(map_, "local", make_entity_spawner(svc_));
    svc_.router = router_.get();
  }

  ~entities() {
    committer_->stop();
    for (auto& a : router_->shut_down()) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    system_->await_all_actors_done();
  }

  /// Sends `xs...` to the entity `id` (activating it) and waits for its answer: the reply, or
  /// the error code.
  template <class T, class... Ts>
  std::variant<T, errc> ask(const std::string& id, const Ts&... xs) {
    caf::actor dest;
    router_->send_to(id, [&](const caf::actor& a) { dest = a; });
    BOOST_TEST_REQUIRE(static_cast<bool>(dest));
    caf::scoped_actor self{*system_};
    std::variant<T, errc> out = errc::internal;
    self->request(dest, std::chrono::seconds(10), xs...)
        .receive([&](T& answer) { out = std::move(answer); },
                 [&](caf::error& e) {
                   // The entities answer request errors; anything else counts as internal.
                   auto err = from_caf(e);
                   out =
                       err.in(category_of(errc{})) ? static_cast<errc>(err.code()) : errc::internal;
                 });
    return out;
  }

  std::size_t active() const { return router_->active_count(); }

 private:
  testing::temp_dir dir_{"parley-entities"};
  std::unique_ptr<store::store> db_;
  std::unique_ptr<runtime::group_committer> committer_;
  runtime::local_shard_map map_{"local", shards};
  node_counters counters_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> system_;
  services svc_;
  std::unique_ptr<runtime::router> router_;
};

const std::string dm = runtime::dm_conversation("alice", "bob");
const std::string dm_entity = runtime::conversation_entity(dm);

send_request message(const std::string& id, const std::string& device = "phone") {
  send_request r;
  r.conversation = dm;
  r.sender = "alice";
  r.device = device;
  r.client_msg_id = id;
  r.body = "body of " + id;
  return r;
}

std::uint64_t seq_of(const std::variant<send_ack, errc>& v) {
  BOOST_TEST_REQUIRE(std::holds_alternative<send_ack>(v));
  return std::get<send_ack>(v).seq;
}

template <class T>
bool refused_with(const std::variant<T, errc>& v, errc code) {
  return std::holds_alternative<errc>(v) && std::get<errc>(v) == code;
}

constexpr auto member = static_cast<std::uint16_t>(wire::GroupRole::MEMBER);
constexpr auto owner = static_cast<std::uint16_t>(wire::GroupRole::OWNER);

}  // namespace

BOOST_AUTO_TEST_SUITE(entity_actors)

BOOST_AUTO_TEST_CASE(a_resent_message_gets_its_original_seq_and_the_log_stays_gap_free) {
  entities e;
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m1"))) == 1u);
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m1"))) == 1u);
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m2"))) == 2u);
  // The same client id from another device is another message.
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m1", "laptop"))) == 3u);
  auto page = e.ask<record_page>(dm_entity, pull_atom::value, std::string("bob"), std::uint64_t{0},
                                 std::uint32_t{10});
  BOOST_TEST_REQUIRE(std::holds_alternative<record_page>(page));
  BOOST_TEST(std::get<record_page>(page).records.size() == 3u);
  BOOST_TEST(!std::get<record_page>(page).has_more);
  // Only its two users read a direct conversation.
  BOOST_TEST(refused_with(e.ask<record_page>(dm_entity, pull_atom::value, std::string("carol"),
                                             std::uint64_t{0}, std::uint32_t{10}),
                          errc::forbidden));
  BOOST_TEST(refused_with(e.ask<std::uint64_t>(dm_entity, head_atom::value, std::string("carol")),
                          errc::forbidden));
}

BOOST_AUTO_TEST_CASE(group_roles_decide_who_adds_and_removes_and_a_removed_member_stays_out) {
  entities e;
  const std::string team = runtime::group_entity("team");
  auto created = e.ask<group_info>(team, create_atom::value, std::string("alice"),
                                   group_spec{"Team", true, false});
  BOOST_TEST_REQUIRE(std::holds_alternative<group_info>(created));
  BOOST_TEST(std::get<group_info>(created).role == owner);
  BOOST_TEST(refused_with(e.ask<group_info>(team, create_atom::value, std::string("bob"),
                                            group_spec{"Again", true, false}),
                          errc::already_exists));
  auto joined = e.ask<group_info>(team, join_atom::value, std::string("bob"), std::string());
  BOOST_TEST_REQUIRE(std::holds_alternative<group_info>(joined));
  BOOST_TEST(std::get<group_info>(joined).role == member);

  // A member adds and removes nobody; a stranger is not even asked.
  BOOST_TEST(refused_with(
      e.ask<group_info>(team, add_atom::value, std::string("bob"), std::string("carol")),
      errc::forbidden));
  BOOST_TEST(refused_with(
      e.ask<std::uint64_t>(team, kick_atom::value, std::string("bob"), std::string("alice")),
      errc::forbidden));
  BOOST_TEST(refused_with(
      e.ask<group_info>(team, add_atom::value, std::string("carol"), std::string("dave")),
      errc::not_member));

  // The owner removes bob: he cannot join again or read, until an admin adds him back.
  BOOST_TEST(std::holds_alternative<std::uint64_t>(
      e.ask<std::uint64_t>(team, kick_atom::value, std::string("alice"), std::string("bob"))));
  BOOST_TEST(
      refused_with(e.ask<group_info>(team, join_atom::value, std::string("bob"), std::string()),
                   errc::forbidden));
  BOOST_TEST(refused_with(e.ask<record_page>(team, pull_atom::value, std::string("bob"),
                                             std::uint64_t{0}, std::uint32_t{10}),
                          errc::not_member));
  auto readded = e.ask<group_info>(team, add_atom::value, std::string("alice"), std::string("bob"));
  BOOST_TEST_REQUIRE(std::holds_alternative<group_info>(readded));
  BOOST_TEST(std::get<group_info>(readded).role == member);

  // An invite-only group admits nobody by themselves.
  const std::string closed = runtime::group_entity("closed");
  BOOST_TEST(std::holds_alternative<group_info>(e.ask<group_info>(
      closed, create_atom::value, std::string("alice"), group_spec{"Closed", false, false})));
  BOOST_TEST(
      refused_with(e.ask<group_info>(closed, join_atom::value, std::string("bob"), std::string()),
                   errc::forbidden));
}

BOOST_AUTO_TEST_CASE(an_idle_entity_passivates_and_comes_back_from_the_store) {
  actor_options o;
  o.idle_timeout = std::chrono::milliseconds(50);
  entities e(o);
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m1"))) == 1u);
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m2"))) == 2u);
  BOOST_TEST(e.active() > 0u);
  // The conversation and the users it announced itself to all go idle and passivate.
  BOOST_TEST(testing::wait_until([&] { return e.active() == 0; }));
  // Reactivated from the store: the next seq follows on, and a resend still dedupes.
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m3"))) == 3u);
  BOOST_TEST(seq_of(e.ask<send_ack>(dm_entity, send_atom::value, message("m1"))) == 1u);
  auto page = e.ask<record_page>(dm_entity, pull_atom::value, std::string("alice"),
                                 std::uint64_t{0}, std::uint32_t{10});
  BOOST_TEST_REQUIRE(std::holds_alternative<record_page>(page));
  BOOST_TEST(std::get<record_page>(page).records.size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
