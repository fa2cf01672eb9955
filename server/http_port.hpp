#pragma once
// The HTTP port, for operators and their tools: GET /metrics (Prometheus text format),
// /healthz (the process answers) and /readyz (the node serves its shards), on every node,
// loopback by default, apart from the client and app ports. It also serves the web pages
// (web/app: a chat client and an admin page) from memory: the files under the web root are
// read once at start (at most 256 files, 16 MiB), so a request never touches the disk and no
// path outside that set can be asked for; /config.json tells the pages the WebSocket port.
// /admin/api/* goes to the admin API (server/admin.hpp), behind an operator token.
//
// cpp-httplib on threads of its own: a listener and a pool of two workers. The handlers only
// call the functions they are given (thread-safe, answering from counters), so nothing here
// knows the actors. Bounds: requests are GETs of a few hundred bytes (a larger request is
// refused), each socket gets 5 s to send it and read the answer, and at most 16 sockets wait
// for a worker: beyond that the listener serves the next one itself, so it accepts no more
// until one is done (the kernel's backlog holds the rest).

#include "parley/schema/error.hpp"
#include "parley/server/node.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace parley::server {

class http_port {
 public:
  /// A call of the admin API (server/admin.hpp), as the port hands it over.
  struct api_request {
    std::string method;  ///< "GET" or "POST"
    std::string path;    ///< after /admin/api, e.g. "/status"
    std::map<std::string, std::string> params;
    std::string authorization;  ///< the Authorization header
    std::string peer;           ///< "ip:port", for the logs
  };
  struct api_answer {
    int status = 200;
    std::string body;  ///< JSON
  };

  struct handlers {
    std::function<std::string()> metrics;                 ///< The /metrics body.
    std::function<bool()> ready;                          ///< Whether /readyz says 200.
    std::function<std::string()> web_config;              ///< The /config.json body for the pages.
    std::function<api_answer(const api_request&)> admin;  ///< /admin/api/*; unset: none.
  };

  /// Binds and starts serving. Fails with node.cannot_listen.
  static result<std::unique_ptr<http_port>> start(const http_port_options& o, handlers h);
  /// Stops accepting, finishes the requests being served, joins the threads.
  ~http_port();
  http_port(const http_port&) = delete;
  http_port& operator=(const http_port&) = delete;

  std::uint16_t port() const;

  struct impl;

 private:
  explicit http_port(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::server
