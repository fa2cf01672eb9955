// A small team's day on Parley, with the features every IM app needs: friends and profiles, an
// approval group with a request to join and an invitation, mentions and the conversation list,
// read receipts, an edit and a recall, presence, and a retention on a conversation.
//
// Runs its own in-process node (parley::testing::embedded_node) so it needs nothing else; each
// step checks what a real app would show and the example exits non-zero if anything differs.

#include "parley/client/client.hpp"
#include "parley/testing/embedded_node.hpp"

#include <iostream>
#include <stdexcept>

using namespace parley;
using client::ErrorCode;

namespace {

/// Stops the example with `what` unless `ok`.
void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

/// `r` must have succeeded; returns it for reading.
const client::response& ok(const client::response& r, const std::string& what) {
  check(r.ok(), what + ": " + r.error);
  return r;
}

/// The next inbox event of `kind` pushed to `c` (others are skipped).
client::inbox_event next_event(client::connection& c, wire::InboxEventKind kind) {
  for (;;) {
    auto p = c.next_push(std::chrono::seconds(10));
    check(p.has_value(), "no event arrived");
    if (p->what == client::push::kind::event && p->event.kind == kind) return p->event;
  }
}

void run() {
  testing::embedded_node node;
  std::cout << "node listening on 127.0.0.1:" << node.port() << "\n";
  auto ana = node.login("ana", "laptop");
  auto ben = node.login("ben", "phone");
  auto cy = node.login("cy", "desktop");

  // Friends and profiles: ben sees ana's phone number only once they are friends.
  client::profile card;
  card.display_name = "Ana Lima";
  card.fields.push_back({"phone", "+351 555 0100", wire::Visibility::FRIENDS});
  ok(ana->set_profile(card), "set profile");
  auto seen = ok(ben->get_profiles({"ana"}), "profiles").profiles.at(0);
  check(seen.display_name == "Ana Lima" && seen.fields.empty(), "a stranger sees the phone");
  ok(ben->request_friend("ana", "Ben from the design team"), "friend request");
  auto asked = next_event(*ana, wire::InboxEventKind::RELATION_CHANGED);
  std::cout << "ana: " << asked.actor << " asks \"" << asked.text << "\"\n";
  ok(ana->answer_friend("ben", true), "accept");
  seen = ok(ben->get_profiles({"ana"}), "profiles").profiles.at(0);
  check(seen.fields.size() == 1 && seen.fields[0].value == "+351 555 0100", "friend sees phone");
  std::cout << "ben sees " << seen.display_name << ", " << seen.fields[0].value << "\n";

  // An approval group: cy asks to join, ana (the owner) approves; ben is invited and accepts.
  client::group_options approval;
  approval.join_policy = wire::JoinPolicy::APPROVAL;
  ok(ana->create_group("design", "Design", approval), "create");
  check(ok(cy->ask_to_join("design", "I'd like to follow along"), "ask").pending, "not pending");
  auto request = next_event(*ana, wire::InboxEventKind::JOIN_REQUESTED);
  std::cout << "ana: " << request.actor << " asks to join: \"" << request.text << "\"\n";
  ok(ana->answer_join_request("design", "cy", true), "approve");
  ok(ana->invite_to_group("design", "ben", "our design group"), "invite");
  next_event(*ben, wire::InboxEventKind::GROUP_INVITED);
  ok(ben->answer_group_invite("design", true), "accept invitation");

  // A mention, the conversation list, a read receipt.
  auto hello =
      ok(ana->send_to_group("design", "d1", "@cy welcome! drafts are up", 0, {"cy"}), "send");
  auto list = ok(cy->list_conversations(), "list").conversations;
  check(list.size() == 1 && list[0].unread == 1 && list[0].unread_mentions == 1, "cy's list");
  std::cout << "cy's list: " << list[0].conversation << ", " << list[0].unread << " unread, "
            << list[0].unread_mentions << " mention\n";
  ok(cy->mark_read("group/design", hello.seq), "read");
  auto receipts = ok(ana->read_receipts("group/design", {hello.seq}), "receipts");
  check(receipts.read_counts.at(0) == 1, "read count");
  std::cout << "ana's message read by " << receipts.read_counts[0] << "\n";

  // An edit, then a recall: everyone converges by pulling.
  ok(ana->edit("group/design", hello.seq, "d2", "@cy welcome! drafts are in the shared folder"),
     "edit");
  auto typo = ok(ben->send_to_group("design", "b1", "wrong chat, sorry"), "send");
  ok(ben->recall("group/design", typo.seq, "b2"), "recall");
  auto page = ok(cy->pull("group/design", 0), "pull").messages;
  check(page.at(0).state == wire::MessageState::EDITED, "edited");
  check(page.at(2).state == wire::MessageState::RECALLED && page.at(2).body.empty(), "recalled");
  std::cout << "cy reads: " << page.at(0).body << " (edited)\n";

  // Presence: ana watches ben, who steps away.
  ok(ana->watch_presence({"ben"}), "watch");
  ok(ben->set_presence(wire::PresenceStatus::AWAY), "away");
  for (;;) {
    auto p = ana->next_push(std::chrono::seconds(10));
    check(p.has_value(), "no presence push");
    if (p->what == client::push::kind::presence && p->presence.status == wire::PresenceStatus::AWAY)
      break;
  }
  std::cout << "ana sees ben away\n";

  // A retention: the direct conversation keeps a day of messages.
  ok(ana->send_to_user("ben", "a1", "lunch?"), "dm");
  ok(ben->set_retention("dm/ana/ben", 86400), "retention");
  check(ok(ana->list_conversations(), "list").conversations.at(0).retention_seconds == 86400,
        "retention shown");
  check(cy->set_retention("dm/ana/ben", 60).code == ErrorCode::FORBIDDEN, "outsider refused");
  std::cout << "dm/ana/ben keeps a day of messages\n";
}

}  // namespace

int main() {
  try {
    run();
  } catch (const std::exception& e) {
    std::cerr << "team_chat: " << e.what() << "\n";
    return 1;
  }
  std::cout << "team_chat: every step as expected\n";
  return 0;
}
