// imctl user sessions|kick: a user's sessions, through a node's app port (schema/app.capnp),
// as an app server would call it.
#include "commands.hpp"

#include "app_rpc.hpp"

#include <nlohmann/json.hpp>

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
                          {"sinceMs", s.getSinceMs()}});
        } else {
          std::cout << s.getDevice().cStr() << "\ttype " << s.getDeviceType() << "\tsince "
                    << utc(s.getSinceMs()) << "\n";
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
      const auto kicked = req.send().wait(ws).getKicked();
      if (o->json)
        std::cout << nlohmann::json{{"kicked", kicked}}.dump() << "\n";
      else
        std::cout << "kicked " << kicked << " session" << (kicked == 1 ? "" : "s") << "\n";
      return 0;
    });
  };
}

}  // namespace parley::cli
