#pragma once
// Spawn functions of the entity actors, one per folder; the registry picks by id kind.

#include "parley/actors/services.hpp"

#include <caf/actor.hpp>

#include <cstdint>
#include <string>

namespace parley::actors {

caf::actor spawn_user(services& svc, const std::string& id, std::uint32_t shard);
caf::actor spawn_group(services& svc, const std::string& id, std::uint32_t shard);
caf::actor spawn_conversation(services& svc, const std::string& id, std::uint32_t shard);
caf::actor spawn_presence(services& svc, const std::string& id, std::uint32_t shard);

}  // namespace parley::actors
