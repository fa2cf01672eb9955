#pragma once
// The cluster scenario: N nodes, client pairs spread over all of them sending continuously
// (resending on retriable errors with the same client message id), a node joins and receives
// its share of shards, then that node drains (its shards move back to the others) and stops;
// then every conversation is read back and checked. Clients are never on the drained node,
// so every one of them must still be connected at the end. Used by tests/cluster (small) and
// bench/ (full).

#include <cstddef>
#include <string>
#include <vector>

namespace parley::testing {

struct scenario_options {
  std::size_t nodes = 3;  ///< Nodes at the start (a further one joins).
  std::size_t pairs = 6;  ///< Client pairs (2 clients each), spread over the first N nodes.
  bool join = true;       ///< Add a node and wait until it holds its share.
  bool drain = true;      ///< Drain the joined node (node 0 without a join) and stop it.
  bool tls = false;       ///< The nodes talk over TLS (certificates of a test CA).
};

struct scenario_report {
  std::size_t acked = 0;            ///< Messages acknowledged to their senders.
  std::size_t stored = 0;           ///< Messages read back from the conversations.
  std::size_t missing = 0;          ///< Acked but not stored.
  std::size_t duplicates = 0;       ///< Stored more than once (same client message id).
  std::size_t gaps = 0;             ///< Conversations whose seqs are not 1..n.
  std::size_t send_failures = 0;    ///< Sends that failed for good (non-retriable).
  std::string first_failure;        ///< Code and text of the first such failure.
  std::size_t resends = 0;          ///< Retriable failures, each followed by a resend.
  std::size_t clients_dropped = 0;  ///< Client connections closed by the server.
  std::vector<double> handoff_ms;   ///< Per moved shard: stop serving -> map flipped.
  double send_p50_ms = 0, send_p99_ms = 0, send_max_ms = 0;  ///< Send (with resends) latency.
  double seconds = 0;                                        ///< Duration of the load.
  std::string describe() const;                              ///< One line for logs.
};

/// Runs the scenario; throws std::runtime_error if the cluster cannot be set up.
scenario_report run_join_drain_scenario(const scenario_options& opts);

}  // namespace parley::testing
