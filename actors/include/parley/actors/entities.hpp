#pragma once
// Activation of the entity actors (user, group, conversation) by id, for the router.

#include "parley/actors/services.hpp"
#include "parley/runtime/router.hpp"

#include <cstdint>
#include <string>

namespace parley::actors {

/// The spawner that activates "user/...", "group/..." and "conv/..." ids on this node.
/// `svc` must outlive the router.
runtime::spawner make_entity_spawner(services& svc);

/// Ends `user`'s sessions on `device` ("" = every device), wherever its presence actor lives,
/// with a Kicked frame of `reason` (a wire::KickReason value) and `detail`. Fire and forget:
/// a user with no session is left alone. The session side of app kicks, bans and revocation.
void kick_sessions(services& svc, const std::string& user, const std::string& device,
                   std::uint16_t reason, const std::string& detail);

}  // namespace parley::actors
