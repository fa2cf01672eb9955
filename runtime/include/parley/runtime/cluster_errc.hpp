#pragma once
// The cluster's errors (category "cluster"): etcd, the cluster port and its certificates,
// membership and shard moves. See schema/error.hpp for the model.

#include "parley/schema/error.hpp"

#include <cstdint>

namespace parley::runtime {

/// Why a cluster operation failed.
enum class cluster_errc : std::uint8_t {
  etcd_unreachable = 1,  ///< etcd did not answer or answered with an HTTP error (retriable).
  etcd_bad_answer,       ///< etcd answered something that is not what its API documents.
  etcd_not_started,      ///< A local etcd child process could not be started.
  map_conflict,          ///< The shard map changed under a move, too often (retriable).
  bad_config,            ///< The cluster options or addresses are invalid.
  certificate,           ///< A CA, certificate or key could not be made, read or written.
  cannot_listen,         ///< The cluster port could not be opened.
  peer_unreachable,      ///< Another node could not be reached or refused us (retriable).
  not_owner,             ///< The shard is not owned here (or is already at the target).
  move_failed,           ///< Moving a shard failed; it is served here again (retriable).
  unsupported,           ///< This node cannot do that (not a cluster node, no import hook).
};

const error_category& category_of(cluster_errc);

}  // namespace parley::runtime
