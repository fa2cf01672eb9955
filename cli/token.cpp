// imctl token issue|revoke. Issuing needs only the secret (signed here, or by a node with
// --via-app); revoking is a node's business, through its app port (schema/app.capnp).
#include "commands.hpp"

#include "app_rpc.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/token.hpp"

#include "client.capnp.h"

#include <capnp/schema.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <string>

namespace parley::cli {

namespace {

/// The DeviceType named `name` ("ios", "web", ...), as a number; nothing if there is none.
std::optional<std::uint16_t> device_type_named(const std::string& name) {
  for (auto e : capnp::Schema::from<wire::DeviceType>().getEnumerants()) {
    if (name == e.getProto().getName().cStr()) return e.getOrdinal();
  }
  return std::nullopt;
}

}  // namespace

command add_token_issue(CLI::App& token) {
  auto* issue = token.add_subcommand("issue", "Print a login token for a user");
  struct opts {
    app_target target;
    std::string user;
    std::string ttl = "24h";
    std::string device_type;
    bool via_app = false;
  };
  auto o = std::make_shared<opts>();
  issue->add_option("user", o->user, "User id")->required();
  issue->add_option("--ttl", o->ttl, "Validity (90s, 15m, 24h, 7d; at most 400d)")
      ->capture_default_str();
  issue->add_option("--device-type", o->device_type,
                    "Log in only as this device type (ios, android, web, desktop, bot)");
  issue->add_flag("--via-app", o->via_app,
                  "Have the node at --app issue it (default: sign here with the secret)");
  o->target.add_to(*issue);
  return [o, issue]() -> int {
    if (!issue->parsed()) return -1;
    const long long ttl = parse_duration_seconds(o->ttl, runtime::max_token_ttl.count());
    if (!runtime::valid_name(o->user)) {
      std::cerr << "imctl: invalid user id '" << o->user << "' (1-128 of A-Z a-z 0-9 _ . @ -)\n";
      return 2;
    }
    std::optional<std::uint16_t> device_type;
    if (!o->device_type.empty()) {
      device_type = device_type_named(o->device_type);
      if (!device_type) {
        std::cerr << "imctl: unknown device type '" << o->device_type
                  << "' (ios, android, web, desktop, bot, unknown)\n";
        return 2;
      }
    }
    if (o->via_app) {
      return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
        auto req = engine.tokensRequest().send().wait(ws).getTokens().issueRequest();
        req.setUser(o->user);
        req.setTtlSeconds(static_cast<std::uint32_t>(ttl));
        req.setDeviceType(device_type ? static_cast<std::int32_t>(*device_type) : -1);
        std::cout << req.send().wait(ws).getToken().cStr() << "\n";
        return 0;
      });
    }
    auto secret = o->target.secret();
    if (!secret) {
      std::cerr << "imctl: " << secret.error().message() << "\n";
      return 1;
    }
    runtime::token_authority tokens(*secret);
    std::cout << tokens.issue(o->user, std::chrono::seconds(ttl), std::chrono::system_clock::now(),
                              device_type)
              << "\n";
    return 0;
  };
}

command add_token_operator(CLI::App& token) {
  auto* cmd = token.add_subcommand(
      "operator", "Print an operator token for the admin page and API on a node's HTTP port");
  struct opts {
    app_target target;
    std::string ttl = "12h";
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("--ttl", o->ttl, "Validity (15m, 12h, 7d; at most 7d)")->capture_default_str();
  o->target.add_secret_to(*cmd);
  return [o, cmd]() -> int {
    if (!cmd->parsed()) return -1;
    const long long ttl = parse_duration_seconds(o->ttl, runtime::max_operator_ttl.count());
    auto secret = o->target.secret();
    if (!secret) {
      std::cerr << "imctl: " << secret.error().message() << "\n";
      return 1;
    }
    runtime::token_authority tokens(*secret);
    std::cout << tokens.issue_operator(std::chrono::seconds(ttl)) << "\n";
    return 0;
  };
}

command add_token_revoke(CLI::App& token) {
  auto* cmd = token.add_subcommand(
      "revoke", "Stop every token of a user issued until now, and end its sessions");
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
      auto req = engine.tokensRequest().send().wait(ws).getTokens().revokeRequest();
      req.setUser(o->user);
      const auto kicked = req.send().wait(ws).getKicked();
      print_kicked(kicked, o->json, "revoked the tokens of " + o->user);
      return 0;
    });
  };
}

}  // namespace parley::cli
