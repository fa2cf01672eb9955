#pragma once
// Why an entity or the session refuses a client's request (category "request"), and how a
// parley::error crosses an actor boundary.
//
// The request codes are the client protocol's vocabulary: they are numbered as the wire's
// ErrorCode (schema/client.capnp), and the session's to_wire (actors/connection/replies.hpp)
// checks every value against the schema at compile time. Errors of the other modules (store,
// cluster, auth, tls) keep their own categories until that edge.

#include "parley/schema/error.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <string>

namespace parley {

/// Why a request failed. See schema/client.capnp ErrorCode for each meaning.
enum class errc : std::uint8_t {
  bad_request = 1,
  malformed_frame = 2,
  frame_too_large = 3,
  not_authenticated = 4,
  token_invalid = 5,
  token_expired = 6,
  not_member = 7,
  not_found = 8,
  forbidden = 9,
  already_exists = 10,
  unavailable = 11,  ///< retriable
  internal = 12,     ///< retriable
  already_logged_in = 13,
  unsupported = 14,
  timeout = 15,         ///< retriable
  rate_limited = 16,    ///< retriable after a pause
  limit_exceeded = 17,  ///< a configured cap was reached
  banned = 18,          ///< login refused: the user is banned
  token_revoked = 19,   ///< login refused: the token was revoked
  rejected = 20,        ///< the app's before-send hook refused a message
};

const error_category& category_of(errc);

/// Short stable name of a code ("not_member").
const char* to_string(errc code);

/// `err` as CAF carries it between actors (its category's name as the atom, the code, the
/// message as context). An empty error gives an empty caf::error.
caf::error to_caf(const error& err);

/// A request error as CAF carries it: to_caf(error(code, message)), for an entity's reply.
caf::error make_error(errc code, std::string message);

/// Any caf::error as a parley::error: one made by to_caf as it was; CAF's own request timeouts
/// as request.timeout, a dead or unreachable receiver as request.unavailable, anything else as
/// request.internal ("internal error": a request error's message reaches the client).
error from_caf(const caf::error& err);

}  // namespace parley
