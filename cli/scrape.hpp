#pragma once
// What imctl reads of a node's /metrics (imctl cluster status, imctl top): the figures an
// operator watches, from the Prometheus text the node's HTTP port serves. Nodes publish
// nothing else about their load: etcd holds membership only.

#include <cstdint>
#include <optional>
#include <string>

namespace parley::cli {

struct node_metrics {
  std::string node;  ///< parley_node_info's label
  std::uint64_t connections = 0;
  std::uint64_t logins = 0;
  std::uint64_t messages = 0;  ///< parley_messages_stored_total
  std::uint64_t pushes = 0;
  std::uint64_t actors = 0;
  std::uint64_t epoch = 0;
  bool serving = false;
};

/// GET http://<host_port>/metrics (2 s at most); nullopt, with `why` set, if the node does not
/// answer or the answer is not a node's metrics.
std::optional<node_metrics> scrape(const std::string& host_port, std::string& why);

/// POST http://<host_port>/admin/api/<call> with an operator token (`timeout_s` at most);
/// the JSON answer, or nullopt with `why` set (the node's error, or that it did not answer).
std::optional<std::string> admin_post(const std::string& host_port, const std::string& call,
                                      const std::string& operator_token, int timeout_s,
                                      std::string& why);

}  // namespace parley::cli
