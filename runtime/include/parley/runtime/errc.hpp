#pragma once
// Errors of the runtime and the entity actors as values. The numbering equals the wire's
// ErrorCode (schema/client.capnp) so the gateway converts by value; a static_assert in
// actors/ checks that they stay in step.

#include <caf/error.hpp>

#include <cstdint>
#include <string>

namespace parley {

/// Why a request failed. See schema/client.capnp ErrorCode for each meaning.
enum class errc : std::uint8_t {
  ok = 0,
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
};

/// Short stable name of a code ("not_member").
const char* to_string(errc code);

/// A CAF error in Parley's category, carrying a human-readable message.
caf::error make_error(errc code, std::string message);

/// Maps any CAF error to a Parley code and message: Parley's own category as is, CAF's
/// request timeouts to `timeout`, a dead or unreachable receiver to `unavailable`.
std::pair<errc, std::string> classify(const caf::error& err);

/// The error category atom for Parley errors.
caf::atom_value error_category();

}  // namespace parley
