#pragma once
// What an operator sees of an entity that is not active: its figures as stored. The presence
// actor of the entity's shard (on the owner node) answers inspection: it asks an active entity
// for its own report (entity_actor::report) and merges these in.

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/schema/error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace parley::actors {

/// Counting stops here (a conversation's dedupe entries can be many): a figure this large
/// means "at least".
constexpr std::uint64_t max_counted_keys = 1'000'000;

/// Figures of `entity_id` (in `shard`) read from the store: a user's inbox head, conversations
/// and stored bytes; a conversation's last seq and dedupe entries; a group's existence, members,
/// barred users and version. None for other kinds.
result<std::vector<figure>> stored_figures(services& svc, std::uint32_t shard,
                                           const std::string& entity_id);

/// `live` with every figure of `stored` it lacks added (its own, from memory, win).
void merge_figures(std::vector<figure>& live, const std::vector<figure>& stored);

}  // namespace parley::actors
