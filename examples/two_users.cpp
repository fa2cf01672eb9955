// Two users chat; one goes offline, misses messages, and catches up on reconnect.
//
// Runs its own in-process node (parley::testing::embedded_node) so it needs nothing else.
// Against a real node you would use client::connection::connect(host, port) and a token your
// app server issued (imctl token issue). Exit code 0 when everything arrived as expected.

#include "parley/client/client.hpp"
#include "parley/schema/ids.hpp"
#include "parley/testing/embedded_node.hpp"

#include <iostream>

using namespace parley;

static int fail(const std::string& what) {
  std::cerr << "two_users: " << what << "\n";
  return 1;
}

int main() {
  testing::embedded_node node;
  std::cout << "node listening on 127.0.0.1:" << node.port() << "\n";

  auto alice = node.login("alice", "laptop");
  auto bob = node.login("bob", "phone");

  // Both online: alice's message is acked with its seq, and pushed to bob.
  auto ack = alice->send_to_user("bob", "msg-1", "hi bob!");
  if (!ack.ok()) return fail("send failed: " + ack.error);
  std::cout << "alice -> bob, acked as " << ack.conversation << " #" << ack.seq << "\n";
  auto pushed = testing::next_message(*bob);
  if (!pushed || pushed->body != "hi bob!") return fail("bob got no push");
  std::cout << "bob got: " << pushed->body << "\n";
  bob->send_to_user("alice", "msg-2", "hi alice!");

  // Bob goes offline; alice keeps writing.
  bob.reset();
  for (int i = 1; i <= 3; ++i) {
    auto r = alice->send_to_user("bob", "later-" + std::to_string(i),
                                 "are you there? " + std::to_string(i));
    if (!r.ok()) return fail("send failed: " + r.error);
  }

  // Bob reconnects: sync the inbox, pull every conversation from where he was.
  bob = node.login("bob", "phone");
  client::sync_state state;
  state.conversations[parley::schema::dm_conversation("alice", "bob")] =
      2;  // he had seen #1 (and sent #2)
  auto caught = client::catch_up(*bob, state);
  if (auto* error = std::get_if<client::response>(&caught))
    return fail("catch-up: " + error->error);
  auto& missed = std::get<std::vector<client::message>>(caught);
  std::cout << "bob caught up on " << missed.size() << " message(s):\n";
  for (auto& m : missed) std::cout << "  #" << m.seq << " " << m.sender << ": " << m.body << "\n";
  if (missed.size() != 3 || missed.front().seq != 3 || missed.back().seq != 5) {
    return fail("expected seqs 3..5");
  }
  return 0;
}
