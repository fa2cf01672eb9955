#pragma once
// imctl's subcommands. Each registers its options on a CLI11 app and returns the function that
// runs it (exit code). Parsing and validation of options happen here, once (conventions §6).

#include <CLI/CLI.hpp>

#include <functional>

namespace parley::cli {

using command = std::function<int()>;

command add_cluster_start(CLI::App& cluster);
command add_cluster_status(CLI::App& cluster);
command add_node_start(CLI::App& node);
command add_node_drain(CLI::App& node);
command add_node_backup(CLI::App& node);
command add_cluster_cert(CLI::App& cluster);
command add_token_issue(CLI::App& token);
command add_token_revoke(CLI::App& token);
command add_token_operator(CLI::App& token);
command add_chat(CLI::App& app);
command add_user_sessions(CLI::App& user);
command add_user_kick(CLI::App& user);
command add_user_ban(CLI::App& user);
command add_group_create(CLI::App& group);
command add_actor_inspect(CLI::App& actor);
command add_actor_list(CLI::App& actor);
command add_group_add(CLI::App& group);
command add_group_remove(CLI::App& group);
command add_group_info(CLI::App& group);
command add_user_unban(CLI::App& user);
command add_top(CLI::App& app);

/// Parses "90", "90s", "15m", "24h", "7d" into seconds, at most `max_seconds`; throws
/// CLI::ValidationError for anything else (signs, spaces, zero, out of range).
long long parse_duration_seconds(const std::string& text, long long max_seconds);

}  // namespace parley::cli
