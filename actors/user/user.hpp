#pragma once
// What a user entity serves ("user/<u>"; user.cpp): the user's inbox of conversation events,
// read cursors, group cap and storage quota, as a typed interface checked at compile time
// (route.hpp).

#include "common/route.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/entity_id.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>

namespace parley::actors::user {

using interface = caf::typed_actor<
    // (after seq, limit): inbox events after a seq, oldest first.
    caf::replies_to<sync_atom, std::uint64_t, std::uint32_t>::with<record_page>,
    // (conversation, seq): moves the read cursor; answers the cursor.
    caf::replies_to<read_atom, std::string, std::uint64_t>::with<std::uint64_t>,
    // Records an inbox event; answers its seq once durable.
    caf::replies_to<announce_atom, inbox_event_spec>::with<std::uint64_t>,
    // (group): whether the user may be in one more group (true, or limitExceeded).
    caf::replies_to<canjoin_atom, std::string>::with<bool>,
    // (want, at least): leases storage quota; answers the bytes granted.
    caf::replies_to<grant_atom, std::uint64_t, std::uint64_t>::with<std::uint64_t>,
    // (bytes): gives back unspent quota.
    caf::reacts_to<refund_atom, std::uint64_t>,
    // (relation_op, other user, request message): a friend or block request of this user;
    // answers the wire::Relation with the other user now.
    caf::replies_to<relate_atom, std::uint16_t, std::string, std::string>::with<std::uint16_t>,
    // (peer_op, from user, request message, request expiry ms): the other side of `from`'s
    // relate; answers this user's wire::Relation with `from` now.
    caf::replies_to<peerrel_atom, std::uint16_t, std::string, std::string,
                    std::uint64_t>::with<std::uint16_t>,
    // (wire::Relation filter or none, after user, limit): the user's relations by user id.
    caf::replies_to<relations_atom, std::uint16_t, std::string, std::uint32_t>::with<relation_page>,
    // (conversation, muted, pinned): the user's flags of one of its conversations.
    caf::replies_to<flags_atom, std::string, bool, bool>::with<bool>,
    // (cursor, limit): a page of the user's conversation list (ConversationPage).
    caf::replies_to<convlist_atom, std::string, std::uint32_t>::with<conversation_list>,
    // (wire Profile, flat and validated): replaces the user's profile; answers once durable.
    caf::replies_to<setprof_atom, std::string>::with<bool>,
    // (viewer): the profile (flat wire Profile) as `viewer` may see it.
    caf::replies_to<getprof_atom, std::string>::with<std::string>>;

/// The user with this name (well formed).
inline entity_handle<interface> of(const std::string& user) {
  return entity_handle<interface>(runtime::user_entity(user));
}

}  // namespace parley::actors::user
