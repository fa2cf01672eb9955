#pragma once
// Activation of the entity actors (user, group, conversation) by id, for the router.

#include "parley/actors/services.hpp"
#include "parley/runtime/router.hpp"

#include <array>
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

/// One kind of entity's activations on this node, as a scrape sees them.
struct kind_census {
  std::size_t active = 0;     ///< live activations
  std::uint64_t queued = 0;   ///< messages waiting in their mailboxes, all of them
  std::uint64_t deepest = 0;  ///< the most waiting in one mailbox
};

/// By runtime::entity_kind: user, group, conversation, presence.
using actor_census = std::array<kind_census, 4>;

/// Counts this node's activations and their mailboxes (a scan under each shard's lock: for
/// scrapes, not for hot paths).
actor_census take_census(const runtime::router& router);

}  // namespace parley::actors
