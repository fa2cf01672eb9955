// imctl user sessions|kick|ban|unban: a user's sessions and access, through a node's app port
// (schema/app.capnp), as an app server would call them.
#include "commands.hpp"

#include "app_rpc.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

namespace parley::cli {

namespace {

std::string utc(std::uint64_t unix_ms) {
  const std::time_t s = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

command add_user_sessions(CLI::App& user) {
  auto* cmd = user.add_subcommand("sessions", "List a user's online sessions");
  struct opts {
    app_target target;
    std::string user;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("user", o->user, "User id")->required();
  cmd->add_flag("--json", o->json, "One JSON array");
  o->target.add_to(*cmd);
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto users = engine.usersRequest().send().wait(ws).getUsers();
      auto req = users.sessionsRequest();
      req.setUser(o->user);
      auto found = req.send().wait(ws);
      auto json = nlohmann::json::array();
      for (auto s : found.getSessions()) {
        if (o->json) {
          json.push_back({{"device", s.getDevice().cStr()},
                          {"deviceType", s.getDeviceType()},
                          {"sinceMs", s.getSinceMs()},
                          {"node", s.getNode().cStr()}});
        } else {
          std::cout << s.getDevice().cStr() << "\ttype " << s.getDeviceType() << "\tsince "
                    << utc(s.getSinceMs()) << "\ton " << s.getNode().cStr() << "\n";
        }
      }
      if (o->json) std::cout << json.dump() << "\n";
      return 0;
    });
  };
}

command add_user_kick(CLI::App& user) {
  auto* cmd = user.add_subcommand("kick", "End a user's sessions (the clients are told why)");
  struct opts {
    app_target target;
    std::string user;
    std::string device;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("user", o->user, "User id")->required();
  cmd->add_option("--device", o->device, "Only this device (default: every device)");
  cmd->add_flag("--json", o->json, "Answer as JSON");
  o->target.add_to(*cmd);
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto users = engine.usersRequest().send().wait(ws).getUsers();
      auto req = users.kickRequest();
      req.setUser(o->user);
      req.setDevice(o->device);
      print_kicked(req.send().wait(ws).getKicked(), o->json, "");
      return 0;
    });
  };
}

command add_user_ban(CLI::App& user) {
  auto* cmd = user.add_subcommand("ban", "Refuse a user's logins and end its sessions");
  struct opts {
    app_target target;
    std::string user;
    std::string period;
    std::string reason;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("user", o->user, "User id")->required();
  cmd->add_option("--for", o->period, "How long (90s, 15m, 24h, 7d; default: until unbanned)");
  cmd->add_option("--reason", o->reason, "Told to the user's clients (at most 256 bytes)");
  cmd->add_flag("--json", o->json, "Answer as JSON");
  o->target.add_to(*cmd);
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    std::uint64_t until_ms = 0;
    if (!o->period.empty()) {
      constexpr long long ten_years = 10LL * 366 * 24 * 3600;
      const long long seconds = parse_duration_seconds(o->period, ten_years);
      until_ms = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              (std::chrono::system_clock::now() + std::chrono::seconds(seconds)).time_since_epoch())
              .count());
    }
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto req = engine.usersRequest().send().wait(ws).getUsers().banRequest();
      req.setUser(o->user);
      req.setUntilUnixMs(until_ms);
      req.setReason(o->reason);
      const auto kicked = req.send().wait(ws).getKicked();
      print_kicked(kicked, o->json,
                   "banned " + o->user + (until_ms == 0 ? "" : " until " + utc(until_ms)));
      return 0;
    });
  };
}

command add_user_unban(CLI::App& user) {
  auto* cmd = user.add_subcommand("unban", "Lift a user's ban");
  struct opts {
    app_target target;
    std::string user;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("user", o->user, "User id")->required();
  cmd->add_flag("--json", o->json, "Answer as JSON");
  o->target.add_to(*cmd);
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto req = engine.usersRequest().send().wait(ws).getUsers().unbanRequest();
      req.setUser(o->user);
      const bool was = req.send().wait(ws).getWasBanned();
      if (o->json) {
        std::cout << nlohmann::json{{"wasBanned", was}}.dump() << "\n";
      } else {
        std::cout << (was ? "unbanned " : "no ban in force for ") << o->user << "\n";
      }
      return 0;
    });
  };
}

}  // namespace parley::cli
