#pragma once
// Spawn functions of the entity actors, one per folder; the registry parses the id (so an
// actor never sees a malformed one) and picks by its kind. `name` is the parsed name
// (runtime::entity_ref::name).

#include "parley/actors/services.hpp"

#include <caf/actor.hpp>

#include <cstdint>
#include <string>

namespace parley::actors {

caf::actor spawn_user(services& svc, const std::string& id, std::string name, std::uint32_t shard);
caf::actor spawn_group(services& svc, const std::string& id, std::string name, std::uint32_t shard);
caf::actor spawn_conversation(services& svc, const std::string& id, std::string name,
                              std::uint32_t shard);
caf::actor spawn_presence(services& svc, const std::string& id, std::uint32_t shard);

}  // namespace parley::actors
