#pragma once
// A node's figures in the Prometheus text exposition format (version 0.0.4), for the HTTP
// port's /metrics. Names: parley_<what>[_<unit>][_total], counters ending in _total.

#include "parley/actors/entities.hpp"
#include "parley/runtime/metric_histogram.hpp"
#include "parley/server/gateway.hpp"
#include "parley/server/node.hpp"
#include "parley/store/store.hpp"

#include <array>
#include <string>

namespace parley::server {

/// What /metrics shows beyond node_stats: distributions and the storage engine's figures.
struct detail_figures {
  runtime::latency_histogram::snapshot send_ack;      ///< send handled -> ack, µs
  runtime::latency_histogram::snapshot commit_write;  ///< one group's write (+ fsync), µs
  runtime::count_histogram::snapshot group_batches;   ///< batches per group commit
  store::store::engine_figures engine;
  actors::actor_census actors;  ///< activations and their mailboxes, by kind
};

/// The /metrics body for node `node_id`: `gateway` is the client port's, `websocket` the
/// WebSocket port's (all zero when it serves none).
std::string prometheus_text(const std::string& node_id, const node_stats& node,
                            const gateway_stats& gateway, const gateway_stats& websocket,
                            const detail_figures& detail);

}  // namespace parley::server
