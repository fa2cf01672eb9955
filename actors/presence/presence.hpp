#pragma once
// What a presence entity serves ("presence/<shard>"; presence.cpp): the online sessions of the
// users of one shard and the pushes to them, as a typed interface checked at compile time
// (route.hpp).

#include "common/route.hpp"
#include "parley/actors/hooks.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/entity_id.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace parley::actors::presence {

using interface = caf::typed_actor<
    // (who, hub, connection): a session is online; answers the user's durable inbox head
    // (later events are pushed), or limitExceeded beyond the device cap, banned, tokenRevoked.
    caf::replies_to<login_atom, login_spec, caf::actor, std::uint64_t>::with<std::uint64_t>,
    // (user): refuses the user's tokens issued before now and ends its sessions (kicked with
    // tokenRevoked); answers how many ended, once durable.
    caf::replies_to<revoke_atom, std::string>::with<std::uint64_t>,
    // (user, ban): refuses the user's logins until the ban ends and ends its sessions (kicked
    // with banned); answers how many ended, once durable.
    caf::replies_to<ban_atom, std::string, ban_spec>::with<std::uint64_t>,
    // (user): lifts a ban; answers whether there was one in force.
    caf::replies_to<unban_atom, std::string>::with<bool>,
    // (entity id of this shard): the entity as an operator sees it, active or not.
    caf::replies_to<inspect_atom, std::string>::with<entity_report>,
    // (user, device or "" for all, kick reason, detail): ends sessions; answers how many.
    caf::replies_to<kickuser_atom, std::string, std::string, std::uint16_t,
                    std::string>::with<std::uint64_t>,
    // (after, limit, wait ms): the shard's event log after seq `after` (store/event_log.hpp);
    // if there is none yet, answered when some are written or, empty, after `wait ms`.
    caf::replies_to<events_atom, std::uint64_t, std::uint32_t, std::uint32_t>::with<event_slice>,
    // New events of this shard are readable (the store's event bell).
    caf::reacts_to<feedwake_atom>,
    // (waiting read): its wait is over.
    caf::reacts_to<feedtime_atom, std::uint64_t>,
    // (user): the user's online sessions here, oldest first.
    caf::replies_to<sessions_atom, std::string>::with<std::vector<session_info>>,
    // (user, device, hub, connection): a session ended.
    caf::reacts_to<logout_atom, std::string, std::string, caf::actor_addr, std::uint64_t>,
    // (users, frame, sender, sender's device, notice): a push to the online users listed (not
    // to the sending device; "" as the device: to none of the sender's). Costs the smaller of
    // the list and this shard's online users. If notice.seq is set, each listed user other than
    // the sender with no session here gets the notice (with its name) at the offline-push hook.
    caf::reacts_to<push_atom, user_set, std::string, std::string, std::string, push_notice>,
    // (user, frame): an inbox event push to every session of the user.
    caf::reacts_to<event_atom, std::string, std::string>,
    // (user, wire::PresenceStatus): the status the user chose (online, away, busy,
    // invisible), kept across logins; its watchers are told if others see a change.
    caf::replies_to<status_atom, std::string, std::uint16_t>::with<std::uint16_t>,
    // (watcher, users of this shard, until ms; 0: stop): the watcher's sessions get a presence
    // push on each change of these users until then; answers their presence now.
    caf::replies_to<watch_atom, std::string, std::vector<std::string>,
                    std::uint64_t>::with<std::vector<presence_entry>>>;

/// The presence actor of a shard.
inline entity_handle<interface> of_shard(std::uint32_t shard) {
  return entity_handle<interface>(runtime::presence_entity(shard));
}

/// `users` grouped by the shard of their presence actor: a push to many users is one message
/// per shard.
inline std::map<std::uint32_t, std::vector<std::string>> by_shard(
    services& svc, const std::vector<std::string>& users) {
  std::map<std::uint32_t, std::vector<std::string>> grouped;
  for (auto& user : users) {
    grouped[svc.router->shard_of(runtime::user_entity(user))].push_back(user);
  }
  return grouped;
}

/// `users` as sets by the shard of their presence actor, for push_atom.
inline std::vector<shard_users> sets_by_shard(services& svc,
                                              const std::vector<std::string>& users) {
  std::vector<shard_users> sets;
  for (auto& [shard, ids] : by_shard(svc, users)) sets.push_back({shard, user_set(std::move(ids))});
  return sets;
}

/// The presence actor holding `user`'s sessions.
inline entity_handle<interface> of_user(services& svc, const std::string& user) {
  return of_shard(svc.router->shard_of(runtime::user_entity(user)));
}

}  // namespace parley::actors::presence
