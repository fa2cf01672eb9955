#pragma once
// The admin API on the HTTP port, for the admin page (web/app/admin.html) and an operator's
// scripts: JSON over HTTP, because a browser cannot speak the app port's Cap'n Proto RPC.
//
//   GET  /admin/api/status              this node, its counters, the members, each shard's owner
//   GET  /admin/api/inspect?entity=E    one entity (user/alice, group/g, conv/dm/a/b, ...), as the
//                                       app port's Inspection.inspect reports it
//   POST /admin/api/drain?node=N        ask member N to drain (its shards move away, it stops)
//   POST /admin/api/backup              a consistent copy of this node's data dir, made while it
//                                       runs, under the node's --backup-dir
//
// Every call needs `Authorization: Bearer <operator token>` (`imctl token operator`; signed
// with the node's secret under its own prefix, runtime/token.hpp): 401 without one. Errors are
// {"error": "<module>.<code>", "message": "..."} with 400 (bad input), 404, 409 (not a cluster)
// or 503 (the node did not answer in time). Refused credentials are logged with the peer,
// rate-limited like every warning.

#include "app_port.hpp"
#include "cluster_part.hpp"
#include "http_port.hpp"

#include "parley/actors/services.hpp"

#include <functional>
#include <string>

namespace parley::server::admin {

using request = http_port::api_request;
using answer = http_port::api_answer;

/// What the API reads and acts on. `cluster` is null on a single node.
struct context {
  actors::services& svc;
  std::function<node_view()> view;
  cluster_part* cluster = nullptr;
  /// Makes a backup; answers its directory. Unset: the node has no backup dir.
  std::function<result<std::string>()> backup;
};

/// Serves one request (an HTTP worker thread; it may wait up to 5 s for an entity's report).
answer handle(const context& ctx, const request& req);

}  // namespace parley::server::admin
