#pragma once
// The node's own errors (category "node"): what stops a node from starting that is neither
// storage, auth nor cluster. See schema/error.hpp for the model.

#include "parley/schema/error.hpp"

#include <cstdint>

namespace parley::server {

/// Why a node could not start.
enum class node_errc : std::uint8_t {
  bad_config = 1,  ///< The options contradict each other or name an invalid address.
  cannot_listen,   ///< The client port could not be opened (in use, no permission).
};

const error_category& category_of(node_errc);

}  // namespace parley::server
