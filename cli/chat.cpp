// imctl chat: a terminal client. Lines are sent to the current target; /commands change it.

#include "commands.hpp"

#include "parley/client/client.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/ids.hpp"

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace parley::cli {

namespace {

std::mutex out_mu;

void say(const std::string& line) {
  std::lock_guard<std::mutex> guard(out_mu);
  std::cout << line << std::endl;
}

std::string show(const client::message& m) {
  using kind = wire::MessageKind;
  const std::string where = "[" + m.conversation + " #" + std::to_string(m.seq) + "] ";
  const std::string target = " #" + std::to_string(m.target);
  switch (m.kind) {
    case kind::EDIT:
      return where + m.sender + " edited" + target + ": " + m.body;
    case kind::RECALL:
      return where + m.sender + " recalled" + target;
    case kind::DELETE_FOR_EVERYONE:
      return where + m.sender + " deleted" + target;
    default:
      break;
  }
  switch (m.state) {
    case wire::MessageState::RECALLED:
      return where + m.sender + ": (recalled)";
    case wire::MessageState::DELETED:
      return where + m.sender + ": (deleted)";
    case wire::MessageState::EDITED:
      return where + m.sender + ": " + m.body + " (edited)";
    default:
      return where + m.sender + ": " + m.body;
  }
}

std::string relation_name(wire::Relation r) {
  switch (r) {
    case wire::Relation::FRIEND:
      return "friend";
    case wire::Relation::REQUEST_SENT:
      return "friend request sent";
    case wire::Relation::REQUEST_RECEIVED:
      return "asks to be friends";
    case wire::Relation::BLOCKED:
      return "blocked";
    default:
      return "no relation";
  }
}

std::string show_presence(const client::presence_info& p) {
  static const char* names[] = {"offline", "online", "away", "busy", "invisible"};
  const auto i = static_cast<std::size_t>(p.status);
  std::string line = p.user + " is " + (i < 5 ? names[i] : "?");
  if (p.last_seen_ms != 0) line += " (last seen " + std::to_string(p.last_seen_ms) + ")";
  return line;
}

/// The inbox events a person wants to see as they happen (others only update the sync state).
std::optional<std::string> show_event(const client::inbox_event& e) {
  using kind = wire::InboxEventKind;
  const std::string quoted = e.text.empty() ? std::string() : " \"" + e.text + "\"";
  switch (e.kind) {
    case kind::RELATION_CHANGED:
      return e.actor + ": " + relation_name(e.relation) + quoted;
    case kind::JOIN_REQUESTED:
      return e.actor + " asks to join " + e.group + quoted + " (/approve " + e.group + " " +
             e.actor + ")";
    case kind::JOIN_DECLINED:
      return e.actor + " declined your request to join " + e.group;
    case kind::GROUP_INVITED:
      return e.actor + " invites you to " + e.group + quoted + " (/invitation " + e.group +
             " accept)";
    case kind::GROUP_DISMISSED:
      return e.group + " was dismissed by " + (e.actor.empty() ? "the app" : e.actor);
    default:
      return std::nullopt;
  }
}

std::string show_error(const client::response& r) {
  return "! " + client::to_string(r.code) + ": " + r.error;
}

std::string random_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char digits[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 16; ++i) id.push_back(digits[rng() % 16]);
  return id;
}

const char* help_text =
    "commands:\n"
    "  /to USER          send following lines to USER\n"
    "  /group GROUP      send following lines to GROUP\n"
    "  /create GROUP [NAME]  create an invite-only group (you become its owner)\n"
    "  /create-open GROUP [NAME]  create a group anyone may join\n"
    "  /create-approval GROUP [NAME]  create a group anyone may ask to join\n"
    "  /add GROUP USER   add a member (owner/admin)\n"
    "  /join GROUP [MESSAGE]  join an open group, or ask to join an approval group\n"
    "  /requests GROUP   pending requests to join (owner/admin)\n"
    "  /approve GROUP USER, /reject GROUP USER   answer a request to join (owner/admin)\n"
    "  /invite GROUP USER [MESSAGE]  invite USER (owner/admin; anyone in an open group)\n"
    "  /invitation GROUP accept|decline   answer an invitation\n"
    "  /admin GROUP USER, /unadmin GROUP USER   set a member's role (owner)\n"
    "  /transfer GROUP USER   hand the group to USER (owner)\n"
    "  /dismiss GROUP    end the group for everyone (owner)\n"
    "  /leave GROUP      leave a group\n"
    "  /kick GROUP USER  remove a member (owner/admin)\n"
    "  /history [N]      last N messages of the current conversation (default 20)\n"
    "  /read             mark the current conversation read\n"
    "  /edit SEQ TEXT    replace your message SEQ of the current conversation\n"
    "  /recall SEQ       recall a message (yours within the recall window; any as a group admin)\n"
    "  /delete SEQ       delete a message for everyone (yours; any as a group admin)\n"
    "  /hide SEQ         delete a message for you only\n"
    "  /receipts [N]     who read the last N messages (default 5)\n"
    "  /friend USER [MESSAGE]  ask USER to be friends (accepts theirs if they asked)\n"
    "  /accept USER, /decline USER  answer USER's friend request\n"
    "  /cancel USER      withdraw your friend request to USER\n"
    "  /unfriend USER    end a friendship\n"
    "  /block USER, /unblock USER  stop (or again allow) messages and requests from USER\n"
    "  /friends          your friends, requests and blocks\n"
    "  /list             your conversations, newest first, with unread counts\n"
    "  /mute, /unmute, /pin, /unpin   flag the current conversation\n"
    "  /retention SECONDS   delete the current conversation's messages older than that (0: keep)\n"
    "  @all TEXT         (in a group, as an admin) a message mentioning everyone\n"
    "  /status STATUS    online, away, busy or invisible\n"
    "  /watch USER...    show their presence now and when it changes\n"
    "  /devices          your online devices\n"
    "  /name TEXT        set your display name\n"
    "  /whois USER...    their profiles\n"
    "  /info GROUP       a group's profile; /members GROUP its members\n"
    "  /announce GROUP TEXT   set a group's announcement (admins)\n"
    "  /muteall GROUP on|off  only admins may write (admins)\n"
    "  /silence GROUP USER SECONDS   mute a member (0 lifts it; admins)\n"
    "  /logout-device ID end the session of another of your devices\n"
    "  /quit             leave\n"
    "  anything else     is sent as a message";

}  // namespace

command add_chat(CLI::App& app) {
  auto* chat = app.add_subcommand("chat", "Terminal chat client");
  struct opts {
    std::string user, token, device = "terminal", host = "127.0.0.1", to, group;
    std::string data_dir = "./parley-data";
    std::uint16_t port = 7420;
    client::connect_options connect;
  };
  auto o = std::make_shared<opts>();
  chat->add_option("--user", o->user, "Your user id")->required();
  chat->add_option("--token", o->token, "Login token (default: issue one from --data-dir)");
  chat->add_option("--data-dir", o->data_dir, "Local node data dir, to issue a token")
      ->capture_default_str();
  chat->add_option("--device", o->device, "Device id")->capture_default_str();
  chat->add_option("--host", o->host, "Node address")->capture_default_str();
  chat->add_option("--port", o->port, "Node port")->capture_default_str();
  chat->add_option("--to", o->to, "Start talking to this user");
  chat->add_option("--group", o->group, "Start talking in this group");
  chat->add_flag("--tls", o->connect.tls, "Connect with TLS (a node started with --tls-cert)");
  chat->add_option("--tls-ca", o->connect.tls_ca_file,
                   "PEM CA the node's certificate must chain to (implies --tls; default: system "
                   "roots)");
  return [o, chat]() -> int {
    if (!chat->parsed()) return -1;
    if (o->token.empty()) {
      auto secret = runtime::load_secret(o->data_dir + "/secret");
      if (!secret) {
        std::cerr << "imctl: no --token and " << secret.error().message() << "\n";
        return 1;
      }
      o->token = runtime::token_authority(*secret).issue(o->user, std::chrono::hours(24));
    }
    if (!o->connect.tls_ca_file.empty()) o->connect.tls = true;
    auto connected = client::connection::connect(o->host, o->port, o->connect);
    if (!connected) {
      std::cerr << "imctl: " << connected.error().message() << "\n";
      return 1;
    }
    auto& c = **connected;
    auto login = c.login(o->token, o->device, wire::DeviceType::DESKTOP);
    if (!login.ok()) {
      std::cerr << "imctl: login failed: " << show_error(login) << "\n";
      return 1;
    }
    say("logged in as " + login.user_id + " on " + o->host + ":" + std::to_string(o->port) +
        " (/help for commands)");

    std::mutex state_mu;
    client::sync_state state;
    auto caught_up = client::catch_up(c, state);
    if (auto* failed = std::get_if<client::response>(&caught_up)) {
      say("catch-up failed: " + show_error(*failed));
    } else {
      auto& missed = std::get<std::vector<client::message>>(caught_up);
      say("-- " + std::to_string(missed.size()) + " message(s) since your last visit --");
      for (auto& m : missed) say(show(m));
    }

    std::atomic<bool> running{true};
    std::thread pushes([&] {
      while (running) {
        auto p = c.next_push(std::chrono::milliseconds(200));
        if (!p) continue;
        std::lock_guard<std::mutex> guard(state_mu);
        auto resync = [&] {
          auto missed = client::catch_up(c, state);
          if (auto* ms = std::get_if<std::vector<client::message>>(&missed)) {
            for (auto& m : *ms) say(show(m));
          }
        };
        switch (p->what) {
          case client::push::kind::message:
            if (state.accept(p->msg)) say(show(p->msg));
            if (state.conversations[p->msg.conversation] < p->msg.seq) resync();  // a gap
            break;
          case client::push::kind::resync:
            resync();
            break;
          case client::push::kind::event:
            state.accept(p->event);
            if (auto note = show_event(p->event)) say("-- " + *note);
            break;
          case client::push::kind::typing:
            say("-- " + p->user + " is typing in " + p->conversation);
            break;
          case client::push::kind::presence:
            say("-- " + show_presence(p->presence));
            break;
          case client::push::kind::read:
            say("-- " + p->user + " read " + p->conversation + " up to #" + std::to_string(p->seq));
            break;
          case client::push::kind::kicked:
            say("-- disconnected by the server: " + p->detail);
            break;
          case client::push::kind::closed:
            say("-- connection closed; press Enter to exit");
            running = false;
            break;
        }
      }
    });

    std::string target_conversation;
    auto set_user = [&](const std::string& u) {
      o->to = u;
      o->group.clear();
      target_conversation = schema::dm_conversation(u, o->user);
      say("-- talking to " + u);
    };
    auto set_group = [&](const std::string& g) {
      o->group = g;
      o->to.clear();
      target_conversation = "group/" + g;
      say("-- talking in group " + g);
    };
    if (!o->to.empty()) set_user(o->to);
    if (!o->group.empty()) set_group(o->group);

    std::string line;
    while (running && std::getline(std::cin, line)) {
      if (line.empty()) continue;
      if (line[0] != '/') {
        if (target_conversation.empty()) {
          say("! choose a target first: /to USER or /group GROUP");
          continue;
        }
        const bool all = line.rfind("@all ", 0) == 0;
        auto r = o->group.empty() ? c.send_to_user(o->to, random_id(), line)
                                  : c.send_to_group(o->group, random_id(), line, 0, {}, all);
        if (!r.ok()) {
          say(show_error(r));
          continue;
        }
        say("[" + r.conversation + " #" + std::to_string(r.seq) + "] " + o->user + ": " + line);
        std::lock_guard<std::mutex> guard(state_mu);
        auto& cursor = state.conversations[r.conversation];
        if (r.seq == cursor + 1) cursor = r.seq;
        continue;
      }
      std::istringstream in(line);
      std::string cmd, a, b;
      in >> cmd >> a;
      std::getline(in >> std::ws, b);
      client::response r;
      if (cmd == "/quit")
        break;
      else if (cmd == "/help") {
        say(help_text);
        continue;
      } else if (cmd == "/to" && !a.empty()) {
        set_user(a);
        continue;
      } else if (cmd == "/group" && !a.empty()) {
        set_group(a);
        continue;
      } else if ((cmd == "/create" || cmd == "/create-open" || cmd == "/create-approval") &&
                 !a.empty()) {
        client::group_options options;
        if (cmd == "/create-open") options.join_policy = wire::JoinPolicy::OPEN;
        if (cmd == "/create-approval") options.join_policy = wire::JoinPolicy::APPROVAL;
        r = c.create_group(a, b.empty() ? a : b, options);
      } else if (cmd == "/add" && !a.empty() && !b.empty())
        r = c.add_member(a, b);
      else if (cmd == "/join" && !a.empty())
        r = c.ask_to_join(a, b);
      else if (cmd == "/requests" && !a.empty()) {
        r = c.list_join_requests(a);
        for (auto& j : r.join_requests) {
          say(j.user + (j.message.empty() ? std::string() : ": \"" + j.message + "\""));
        }
        if (r.ok()) continue;
      } else if ((cmd == "/approve" || cmd == "/reject") && !a.empty() && !b.empty())
        r = c.answer_join_request(a, b, cmd == "/approve");
      else if (cmd == "/invite" && !a.empty() && !b.empty()) {
        std::istringstream rest(b);
        std::string user, message;
        rest >> user;
        std::getline(rest >> std::ws, message);
        r = c.invite_to_group(a, user, message);
      } else if (cmd == "/invitation" && !a.empty() && (b == "accept" || b == "decline"))
        r = c.answer_group_invite(a, b == "accept");
      else if ((cmd == "/admin" || cmd == "/unadmin") && !a.empty() && !b.empty())
        r = c.set_member_role(a, b,
                              cmd == "/admin" ? wire::GroupRole::ADMIN : wire::GroupRole::MEMBER);
      else if (cmd == "/transfer" && !a.empty() && !b.empty())
        r = c.transfer_group(a, b);
      else if (cmd == "/dismiss" && !a.empty())
        r = c.dismiss_group(a);
      else if (cmd == "/leave" && !a.empty())
        r = c.leave_group(a);
      else if (cmd == "/kick" && !a.empty() && !b.empty())
        r = c.kick_member(a, b);
      else if (cmd == "/status" && !a.empty()) {
        const std::map<std::string, wire::PresenceStatus> statuses = {
            {"online", wire::PresenceStatus::ONLINE},
            {"away", wire::PresenceStatus::AWAY},
            {"busy", wire::PresenceStatus::BUSY},
            {"invisible", wire::PresenceStatus::INVISIBLE}};
        auto it = statuses.find(a);
        if (it == statuses.end()) {
          say("! /status online|away|busy|invisible");
          continue;
        }
        r = c.set_presence(it->second);
      } else if (cmd == "/watch" && !a.empty()) {
        std::vector<std::string> users{a};
        std::istringstream more(b);
        for (std::string u; more >> u;) users.push_back(u);
        r = c.watch_presence(users);
        for (auto& p : r.presences) say(show_presence(p));
        if (r.ok()) continue;
      } else if (cmd == "/name" && !a.empty()) {
        auto mine = c.get_profiles({o->user});
        client::profile p =
            mine.ok() && !mine.profiles.empty() ? mine.profiles[0] : client::profile{};
        p.display_name = b.empty() ? a : a + " " + b;
        r = c.set_profile(p);
      } else if (cmd == "/whois" && !a.empty()) {
        std::vector<std::string> users{a};
        std::istringstream more(b);
        for (std::string u; more >> u;) users.push_back(u);
        r = c.get_profiles(users);
        for (auto& p : r.profiles) {
          std::string line = p.user + ": " + (p.display_name.empty() ? "-" : p.display_name);
          if (!p.avatar_url.empty()) line += " <" + p.avatar_url + ">";
          for (auto& f : p.fields) line += " " + f.key + "=" + f.value;
          say(line);
        }
        if (r.ok()) continue;
      } else if (cmd == "/info" && !a.empty()) {
        r = c.get_group_profile(a);
        if (r.ok()) {
          say(r.group.group_id + ": " + r.group.name + ", " + std::to_string(r.group.members) +
              "/" + std::to_string(r.group.max_members) + " members, owner " + r.group.owner +
              (r.group.muted_all ? ", muted" : "") +
              (r.group.announcement.empty() ? "" : " -- " + r.group.announcement));
          continue;
        }
      } else if (cmd == "/members" && !a.empty()) {
        r = c.list_members(a, {}, 200);
        for (auto& m : r.members) say(m.user + (m.muted_until_ms != 0 ? " (muted)" : ""));
        if (r.ok()) continue;
      } else if ((cmd == "/announce" || cmd == "/muteall") && !a.empty()) {
        auto current = c.get_group_profile(a);
        if (!current.ok()) {
          say(show_error(current));
          continue;
        }
        auto g = current.group;
        if (cmd == "/announce") g.announcement = b;
        if (cmd == "/muteall") g.muted_all = b == "on";
        r = c.update_group(g);
      } else if (cmd == "/silence" && !a.empty() && !b.empty()) {
        std::istringstream rest(b);
        std::string user;
        double seconds = 0;
        rest >> user >> seconds;
        const auto now =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
        r = c.mute_member(a, user,
                          seconds <= 0 ? 0 : now + static_cast<std::uint64_t>(seconds * 1000));
      } else if (cmd == "/devices") {
        r = c.list_devices();
        for (auto& d : r.devices) {
          say(d.device + (d.current ? " (this one)" : "") + " since " + std::to_string(d.since_ms));
        }
        if (r.ok()) continue;
      } else if (cmd == "/logout-device" && !a.empty()) {
        r = c.logout_device(a);
      } else if (cmd == "/list") {
        r = c.list_conversations();
        for (auto& e : r.conversations) {
          std::string line = (e.pinned ? "* " : "  ") + e.conversation;
          if (e.unread > 0) line += " (" + std::to_string(e.unread) + " unread)";
          if (e.unread_mentions > 0) line += " (" + std::to_string(e.unread_mentions) + " @)";
          if (e.muted) line += " [muted]";
          if (e.last_message) line += " -- " + show(*e.last_message);
          say(line);
        }
        if (r.ok()) continue;
      } else if (cmd == "/mute" || cmd == "/unmute" || cmd == "/pin" || cmd == "/unpin") {
        if (target_conversation.empty()) {
          say("! choose a target first");
          continue;
        }
        auto listed = c.list_conversations({}, 200);
        bool muted = false, pinned = false;
        for (auto& e : listed.conversations) {
          if (e.conversation == target_conversation) {
            muted = e.muted;
            pinned = e.pinned;
          }
        }
        if (cmd == "/mute" || cmd == "/unmute") muted = cmd == "/mute";
        if (cmd == "/pin" || cmd == "/unpin") pinned = cmd == "/pin";
        r = c.set_conversation_flags(target_conversation, muted, pinned);
      } else if (cmd == "/retention" && !a.empty()) {
        if (target_conversation.empty()) {
          say("! choose a target first");
          continue;
        }
        std::uint64_t seconds = 0;
        try {
          seconds = std::stoull(a);
        } catch (const std::exception&) {
          say("! /retention SECONDS");
          continue;
        }
        r = c.set_retention(target_conversation, seconds);
      } else if (cmd == "/friends") {
        r = c.list_relations();
        for (auto& e : r.relations) {
          say(e.user + ": " + relation_name(e.relation) +
              (e.message.empty() ? std::string() : " \"" + e.message + "\""));
        }
        if (r.ok()) continue;
      } else if (!a.empty() &&
                 (cmd == "/friend" || cmd == "/accept" || cmd == "/decline" || cmd == "/cancel" ||
                  cmd == "/unfriend" || cmd == "/block" || cmd == "/unblock")) {
        if (cmd == "/friend")
          r = c.request_friend(a, b);
        else if (cmd == "/accept" || cmd == "/decline")
          r = c.answer_friend(a, cmd == "/accept");
        else if (cmd == "/cancel")
          r = c.cancel_friend_request(a);
        else if (cmd == "/unfriend")
          r = c.remove_friend(a);
        else if (cmd == "/block")
          r = c.block(a);
        else
          r = c.unblock(a);
        if (r.ok()) {
          say("-- " + a + ": " + relation_name(r.relation));
          continue;
        }
      } else if (cmd == "/edit" || cmd == "/recall" || cmd == "/delete" || cmd == "/hide" ||
                 cmd == "/receipts") {
        if (target_conversation.empty()) {
          say("! choose a target first");
          continue;
        }
        std::uint64_t seq = 0;
        try {
          seq = a.empty() ? 0 : std::stoull(a);
        } catch (const std::exception&) {
          say("! " + cmd + " takes a message number");
          continue;
        }
        if (cmd == "/edit")
          r = c.edit(target_conversation, seq, random_id(), b);
        else if (cmd == "/recall")
          r = c.recall(target_conversation, seq, random_id());
        else if (cmd == "/delete")
          r = c.delete_for_everyone(target_conversation, seq, random_id());
        else if (cmd == "/hide")
          r = c.delete_for_me(target_conversation, seq);
        else {
          auto h = c.history_before_seq(target_conversation, 0, seq == 0 ? 5 : seq);
          std::vector<std::uint64_t> seqs;
          for (auto& m : h.messages) seqs.push_back(m.seq);
          r = h.ok() ? c.read_receipts(target_conversation, seqs) : h;
          for (std::size_t i = 0; r.ok() && i < r.read_counts.size(); ++i) {
            say("#" + std::to_string(seqs[i]) + " read by " + std::to_string(r.read_counts[i]));
          }
          for (auto& cursor : r.cursors) {
            say(cursor.user + " read up to #" + std::to_string(cursor.seq));
          }
          if (r.ok()) continue;
        }
      } else if (cmd == "/history" || cmd == "/read") {
        if (target_conversation.empty()) {
          say("! choose a target first");
          continue;
        }
        if (cmd == "/read") {
          auto h = c.history_before_seq(target_conversation, 0, 1);
          r = h.ok() && !h.messages.empty() ? c.mark_read(target_conversation, h.messages[0].seq)
                                            : h;
        } else {
          const unsigned n = a.empty() ? 20 : static_cast<unsigned>(std::stoul(a));
          r = c.history_before_seq(target_conversation, 0, n);
          for (auto it = r.messages.rbegin(); it != r.messages.rend(); ++it) say(show(*it));
        }
      } else {
        say(help_text);
        continue;
      }
      if (!r.ok())
        say(show_error(r));
      else if (r.pending)
        say("-- asked to join " + r.group_id + "; an admin will answer");
      else if (cmd == "/create" || cmd == "/create-open" || cmd == "/create-approval" ||
               cmd == "/join" || (cmd == "/invitation" && b == "accept")) {
        set_group(r.group_id);
      } else if (cmd == "/edit" || cmd == "/recall" || cmd == "/delete") {
        say("-- ok (#" + std::to_string(r.seq) + ")");
      } else if (cmd != "/history")
        say("-- ok");
    }
    running = false;
    pushes.join();
    return 0;
  };
}

}  // namespace parley::cli
