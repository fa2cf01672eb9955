#pragma once
// The app port: Cap'n Proto RPC for app servers (schema/app.capnp), on every node.
//
// One kj thread per node owns the event loop, the listener and every connection (kj objects
// must be made and destroyed on their loop's thread). A connection's bootstrap only
// authenticates; the third wrong secret on one connection closes it. Calls that need no entity
// (tokens) are answered on the kj thread. A call that does (groups, messages) is validated there
// with the client edge's own rules, then handed to actors::app_calls, which asks the entities
// through the router from a short-lived actor, as a client's request would, so an entity on
// another node or in a moving shard is reached the same way; the answer comes back through a
// kj cross-thread promise. Errors leave as RPC exceptions "<error_code>: <message>", mapped by
// the client edge's to_wire, so an app sees the same codes and texts as a client.
//
// Bounds: at most `max_connections` app connections (more are closed at once), each with
// `max_call_words` of calls in flight (Cap'n Proto's flow limit) and messages of at most that
// size. No kj type leaves app_port.cpp and the capabilities' files (server/app/).

#include "parley/actors/services.hpp"
#include "parley/schema/error.hpp"
#include "parley/server/node.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace parley::server {

/// What the app port reports about its node (Cluster.status).
struct node_view {
  std::string node;                 ///< This node's id ("local" for a single node).
  node_stats stats;                 ///< Its figures.
  std::vector<std::string> owners;  ///< The owner node of each shard, by shard, in its map.
};

class app_port {
 public:
  /// Binds and starts the kj thread. `view` is called on that thread (it must be thread-safe)
  /// to answer Cluster.status. Fails with node.cannot_listen or node.bad_config.
  static result<std::unique_ptr<app_port>> start(actors::services& svc, app_port_options o,
                                                 std::function<node_view()> view);

  /// Closes the listener and every connection, and joins the thread. Calls waiting for an
  /// entity are dropped (their answer, when it comes, goes nowhere).
  ~app_port();
  app_port(const app_port&) = delete;
  app_port& operator=(const app_port&) = delete;

  /// The port it listens on.
  std::uint16_t port() const;

  struct impl;

 private:
  explicit app_port(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::server
