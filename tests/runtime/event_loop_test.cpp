// runtime/event_loop: actors run as handlers of the node's loop, and the loop tells how many
// are queued to run (the gateway's outbox waits for them before it writes).
#include <boost/test/unit_test.hpp>

#include "parley/runtime/event_loop.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace parley::runtime;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;

/// Answers a ping with the name of the thread it ran on. (A class: CAF 0.17 spawns a function
/// actor without arguments through a null pointer, which UBSan reports.)
class thread_teller final : public caf::event_based_actor {
 public:
  using caf::event_based_actor::event_based_actor;

  caf::behavior make_behavior() override {
    return {[](ping_atom) {
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof(name));
      return std::string(name);
    }};
  }
};

/// Runs on the loop until `release` is fulfilled; `held` is fulfilled once it runs.
void hold_loop(event_loop& loop, std::promise<void>& held, std::shared_future<void> release) {
  asio::post(loop.io(), [&held, release] {
    held.set_value();
    release.wait();
  });
}

/// Returns once everything posted to the one-thread `loop` before this call has run.
void wait_for_loop(event_loop& loop) {
  std::promise<void> passed;
  asio::post(loop.io(), [&passed] { passed.set_value(); });
  passed.get_future().wait();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_loop_scheduling)

BOOST_AUTO_TEST_CASE(actors_run_on_the_loop_threads) {
  event_loop loop(2);
  {
    caf::actor_system_config cfg;
    loop.host_actors(cfg);
    caf::actor_system sys(cfg);
    caf::scoped_actor self(sys);
    std::set<std::string> names;
    for (int i = 0; i < 8; ++i) {
      auto teller = sys.spawn<thread_teller>();
      self->request(teller, caf::infinite, ping_atom::value)
          .receive([&](const std::string& name) { names.insert(name); },
                   [](caf::error& err) { BOOST_FAIL("no answer: " << caf::to_string(err)); });
    }
    BOOST_TEST((names == std::set<std::string>{"parley.loop"}));
  }
  loop.stop();
}

BOOST_AUTO_TEST_CASE(the_loop_counts_the_actors_waiting_to_run) {
  event_loop loop(1);
  {
    caf::actor_system_config cfg;
    loop.host_actors(cfg);
    caf::actor_system sys(cfg);
    caf::scoped_actor self(sys);
    std::vector<caf::actor> tellers;
    for (int i = 0; i < 3; ++i) tellers.push_back(sys.spawn<thread_teller>());
    wait_for_loop(loop);  // spawning ran nothing that is still queued
    BOOST_TEST(loop.actors_waiting() == 0u);

    // With the loop's only thread held, each pinged actor waits on the loop.
    std::promise<void> held;
    std::promise<void> release;
    hold_loop(loop, held, release.get_future().share());
    held.get_future().wait();
    for (auto& t : tellers) self->send(t, ping_atom::value);
    BOOST_TEST(loop.actors_waiting() == 3u);
    self->send(tellers.front(), ping_atom::value);  // already queued: not counted twice
    BOOST_TEST(loop.actors_waiting() == 3u);

    release.set_value();
    for (int i = 0; i < 4; ++i) {
      self->receive([](const std::string&) {});
    }
    wait_for_loop(loop);
    BOOST_TEST(loop.actors_waiting() == 0u);
  }
  loop.stop();
}

BOOST_AUTO_TEST_SUITE_END()
