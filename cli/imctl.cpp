// imctl: run and talk to Parley.
//
//   imctl cluster start [--data-dir DIR] [--host H] [--port P] ...   run a single node
//   imctl cluster start --nodes N [--dir D] [--etcd URL]             run a local cluster
//   imctl cluster status [--etcd URL | --via-app] [--json]            nodes, shards, figures
//   imctl cluster cert --id ID [--dir D] [--names ...]                TLS files for a node
//   imctl node start --etcd URL --id ID ...                          run one clustered node
//   imctl node drain ID [--etcd URL]                                 move its shards off, stop it
//   imctl token issue USER [--ttl 24h] [--device-type T] [--via-app]  print a login token
//   imctl token revoke USER [--app HOST:PORT] [--json]               stop its tokens until now
//   imctl chat --user USER [--data-dir DIR | --token T] ...          terminal chat client
//   imctl user sessions|kick|ban|unban USER [--app HOST:PORT] [--json]  through the app port
//   imctl group create|add|remove|info GROUP ... [--app HOST:PORT] [--json]  through the app port
//   imctl actor inspect ID | actor list [--prefix P] [--app HOST:PORT] [--json]
//   imctl top [--app HOST:PORT ...] [--interval MS] [--count N] [--json]  rates per node

#include "commands.hpp"

#include <string>

namespace parley::cli {

long long parse_duration_seconds(const std::string& text, long long max_seconds) {
  // Strict: digits then one unit letter; no sign, spaces or exponent (stoll would accept
  // " +5"), and the product is checked against the bound before it is formed.
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string unit = text.substr(digits);
  long long factor = 0;
  if (unit.empty() || unit == "s")
    factor = 1;
  else if (unit == "m")
    factor = 60;
  else if (unit == "h")
    factor = 3600;
  else if (unit == "d")
    factor = 86400;
  if (digits == 0 || factor == 0) {
    throw CLI::ValidationError("duration",
                               "'" + text + "' is not a duration (e.g. 90s, 15m, 24h, 7d)");
  }
  long long value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    value = value * 10 + (text[i] - '0');
    if (value > max_seconds) break;  // stays far below overflow: max_seconds < 2^62
  }
  if (value <= 0 || value > max_seconds / factor) {
    throw CLI::ValidationError(
        "duration", "'" + text + "' is out of range (1s to " + std::to_string(max_seconds) + "s)");
  }
  return value * factor;
}

}  // namespace parley::cli

int main(int argc, char** argv) {
  using namespace parley::cli;
  CLI::App app{"imctl: run and talk to the Parley instant-messaging engine"};
  app.require_subcommand(1);
  auto* cluster = app.add_subcommand("cluster", "Run Parley nodes");
  cluster->require_subcommand(1);
  auto* node = app.add_subcommand("node", "Run one node of a cluster");
  node->require_subcommand(1);
  auto* token = app.add_subcommand("token", "Login tokens");
  token->require_subcommand(1);
  auto* user = app.add_subcommand("user", "Users, through a node's app port");
  user->require_subcommand(1);
  auto* group = app.add_subcommand("group", "Groups, through a node's app port");
  group->require_subcommand(1);
  auto* actor = app.add_subcommand("actor", "Entities, through a node's app port");
  actor->require_subcommand(1);
  std::vector<command> commands{add_cluster_start(*cluster),
                                add_cluster_status(*cluster),
                                add_cluster_cert(*cluster),
                                add_node_start(*node),
                                add_node_drain(*node),
                                add_node_backup(*node),
                                add_token_issue(*token),
                                add_token_revoke(*token),
                                add_token_operator(*token),
                                add_user_ban(*user),
                                add_user_unban(*user),
                                add_group_create(*group),
                                add_group_add(*group),
                                add_group_remove(*group),
                                add_group_info(*group),
                                add_actor_inspect(*actor),
                                add_actor_list(*actor),
                                add_user_sessions(*user),
                                add_user_kick(*user),
                                add_chat(app),
                                add_top(app)};
  try {
    app.parse(argc, argv);
    for (auto& run : commands) {
      const int rc = run();
      if (rc >= 0) return rc;
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
