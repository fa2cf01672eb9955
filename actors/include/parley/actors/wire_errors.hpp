#pragma once
// How an error reaches the outside: the client protocol's ErrorCode and a short message. The
// client edge (actors/connection) and the app port (server/app_port.cpp) both answer with it.

#include "parley/schema/error.hpp"

#include "client.capnp.h"

#include <string>

namespace parley::actors {

/// What a client or an app is told of an error: its wire code and a short message.
struct wire_error {
  wire::ErrorCode code;
  std::string message;
};

/// The one place where an error becomes the wire's: request errors by value (each value checked
/// against the schema at compile time) with their message; auth errors as token_expired or
/// token_invalid; store and cluster errors as unavailable when a retry can help, else internal,
/// with a generic sentence (never library text or paths); anything else as internal.
wire_error to_wire(const error& err);

}  // namespace parley::actors
