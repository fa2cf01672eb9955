#pragma once
// The retention sweeper (actors/retention/sweeper.cpp): one per node. Every
// actor_options::retention_sweep_interval it reads, for each shard this node owns, the shard's
// index of conversations that have a time to live (record 't' under the shard's presence
// entity, written by the conversations themselves) and visits each with expire_atom; the
// conversation deletes what outlived its time to live. The index lives in the shard's column
// family, so it moves with the shard and the new owner's sweeper takes over.

#include "parley/actors/services.hpp"

#include <caf/actor.hpp>

namespace parley::actors {

/// Spawns the sweeper; it runs until the actor system stops (or it is sent an exit).
caf::actor spawn_retention_sweeper(services& svc);

}  // namespace parley::actors
