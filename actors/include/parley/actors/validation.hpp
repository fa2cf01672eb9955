#pragma once
// Request validation at the client edge, as pure functions: what a request must satisfy before
// it is sent to an entity, and the error a client gets when it does not. No actor, no socket:
// tests/actors checks every limit and bad input directly. (The first piece of the session
// module of issue 12; the connection calls these.)

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/runtime/errc.hpp"

#include "client.capnp.h"

#include <string>
#include <variant>

namespace parley::actors {

/// A request refused at the edge: the code and the message the client gets.
struct refusal {
  errc code;
  std::string message;
};

/// A valid Send: the request for the entity that stores it, and that entity's id.
struct validated_send {
  send_request request;
  std::string entity;
};

/// Longest client message id and most mentions a Send may carry.
constexpr std::size_t max_client_msg_id = 128;
constexpr std::size_t max_mentions = 100;

/// Checks a Send from `user` on `device`: client message id 1-128 bytes, body 1 byte to
/// o.max_body_bytes, at most 100 mentions of valid user ids, a valid peer other than the
/// sender or a valid group, and a target kind this server knows.
std::variant<validated_send, refusal> validate_send(wire::Send::Reader s, const std::string& user,
                                                    const std::string& device,
                                                    const actor_options& o);

/// A device id: 1-128 bytes without control characters (it is shown to the user's other
/// devices).
bool valid_device_id(const std::string& device);

}  // namespace parley::actors
