#pragma once
// A node's figures in the Prometheus text exposition format (version 0.0.4), for the HTTP
// port's /metrics. Names: parley_<what>[_<unit>][_total], counters ending in _total.

#include "parley/server/gateway.hpp"
#include "parley/server/node.hpp"

#include <string>

namespace parley::server {

/// The /metrics body for node `node_id`: `gateway` is the client port's, `websocket` the
/// WebSocket port's (all zero when it serves none).
std::string prometheus_text(const std::string& node_id, const node_stats& node,
                            const gateway_stats& gateway, const gateway_stats& websocket);

}  // namespace parley::server
