#pragma once
// Activation of the entity actors (user, group, conversation) by id, for the router.

#include "parley/actors/services.hpp"
#include "parley/runtime/router.hpp"

namespace parley::actors {

/// The spawner that activates "user/...", "group/..." and "conv/..." ids on this node.
/// `svc` must outlive the router.
runtime::spawner make_entity_spawner(services& svc);

}  // namespace parley::actors
