#include "scrape.hpp"

#include <httplib.h>

#include <map>
#include <sstream>

namespace parley::cli {

namespace {

/// A client of the HTTP port at `host_port`; nullopt (and `why`) if that is not HOST:PORT.
std::optional<httplib::Client> client_of(const std::string& host_port, int timeout_s,
                                         std::string& why) {
  const auto colon = host_port.rfind(':');
  int port = 0;
  try {
    port = colon == std::string::npos ? 0 : std::stoi(host_port.substr(colon + 1));
  } catch (const std::exception&) {
    port = 0;
  }
  if (port <= 0 || port > 65535) {
    why = "not HOST:PORT: " + host_port;
    return std::nullopt;
  }
  std::optional<httplib::Client> http;
  http.emplace(host_port.substr(0, colon), port);
  http->set_connection_timeout(2, 0);
  http->set_read_timeout(timeout_s, 0);
  return http;
}

}  // namespace

std::optional<std::string> admin_post(const std::string& host_port, const std::string& call,
                                      const std::string& operator_token, int timeout_s,
                                      std::string& why) {
  auto http = client_of(host_port, timeout_s, why);
  if (!http) return std::nullopt;
  httplib::Headers headers{{"Authorization", "Bearer " + operator_token}};
  auto res = http->Post(("/admin/api/" + call).c_str(), headers, "", "text/plain");
  if (!res) {
    why = "no answer from http://" + host_port;
    return std::nullopt;
  }
  if (res->status != 200) {
    why = res->body;
    return std::nullopt;
  }
  return res->body;
}

std::optional<node_metrics> scrape(const std::string& host_port, std::string& why) {
  auto http = client_of(host_port, 2, why);
  if (!http) return std::nullopt;
  auto res = http->Get("/metrics");
  if (!res || res->status != 200) {
    why = "no metrics from http://" + host_port + "/metrics";
    return std::nullopt;
  }
  std::map<std::string, std::string> sample;  // "name{labels}" -> value
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space != std::string::npos) sample[line.substr(0, space)] = line.substr(space + 1);
  }
  node_metrics m;
  for (const auto& [name, value] : sample) {
    const std::string prefix = "parley_node_info{node=\"";
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + 2) {
      m.node = name.substr(prefix.size(), name.size() - prefix.size() - 2);
    }
  }
  if (m.node.empty()) {
    why = "http://" + host_port + "/metrics is not a Parley node's";
    return std::nullopt;
  }
  auto number = [&](const char* name) -> std::uint64_t {
    auto it = sample.find(name);
    if (it == sample.end()) return 0;
    try {
      return std::stoull(it->second);
    } catch (const std::exception&) {
      return 0;
    }
  };
  m.connections = number("parley_connections");
  m.logins = number("parley_logins_total");
  m.messages = number("parley_messages_stored_total");
  m.pushes = number("parley_pushes_total");
  m.actors = number("parley_active_actors");
  m.epoch = number("parley_shard_map_epoch");
  m.serving = number("parley_serving") == 1;
  return m;
}

}  // namespace parley::cli
