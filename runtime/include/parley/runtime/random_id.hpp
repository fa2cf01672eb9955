#pragma once
// Unguessable ids (server-chosen group ids), from OpenSSL's CSPRNG.

#include "parley/schema/error.hpp"

#include <string>

namespace parley::runtime {

/// `prefix` followed by `bytes` random bytes in hex (128 bits by default); fails (request
/// internal) only if the system has no randomness to give.
result<std::string> random_id(const std::string& prefix, std::size_t bytes = 16);

}  // namespace parley::runtime
