#pragma once
// What a conversation entity serves ("conv/dm/<a>/<b>", "conv/group/<g>"; conversation.cpp),
// as a typed interface: callers (route.hpp) and the actor's behavior (entity_actor::serve) are
// both checked against it at compile time.

#include "common/route.hpp"
#include "parley/actors/messages.hpp"
#include "parley/runtime/entity_id.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace parley::actors {

/// A conversation's log as its users see it. Served by the conversation itself (a direct one:
/// to its two users) and by a group (to its members, from their join on, asking its
/// conversation in turn), so a reader does not care which. `reader` is the user asking (a group
/// asking its own conversation: the group's entity id).
using conversation_log = caf::typed_actor<
    // Appends a message; answers where it landed once it is durable (a resend with the same
    // sender, device and client msg id gets the original seq).
    caf::replies_to<send_atom, send_request>::with<send_ack>,
    // (reader, after seq, limit): the messages after a seq, oldest first.
    caf::replies_to<pull_atom, std::string, std::uint64_t, std::uint32_t>::with<record_page>,
    // (reader, query): the messages before a seq or a time, newest first.
    caf::replies_to<history_atom, std::string, history_query>::with<record_page>,
    // (reader): the last seq.
    caf::replies_to<head_atom, std::string>::with<std::uint64_t>,
    // (reader, seq): the reader has read up to `seq` (at most the last seq); answers its read
    // cursor, which only moves forward.
    caf::replies_to<read_atom, std::string, std::uint64_t>::with<std::uint64_t>,
    // (reader, seqs): how many others have read each seq, and (direct and system
    // conversations) every participant's read cursor.
    caf::replies_to<receipts_atom, std::string, std::vector<std::uint64_t>>::with<read_receipts>,
    // (reader, floor): the reader's entry of its conversation list (nothing at or below floor
    // counts or shows: a group member's join point).
    caf::replies_to<summary_atom, std::string, std::uint64_t>::with<conversation_summary>,
    // (by, time to live in ms; 0: keep): how long the conversation keeps its messages. `by`:
    // one of a direct conversation's users, or the app; a group checks its admins first.
    // Answers the time to live.
    caf::replies_to<retention_atom, std::string, std::uint64_t>::with<std::uint64_t>>;

namespace conversation {

/// What only a conversation itself serves (not a group in its place).
using interface = conversation_log::extend<
    // (user, device, push frame): `user` is typing in this direct conversation; the frame goes
    // to the other participant's online sessions unless a block or the friends-only setting
    // forbids it. Answers 1.
    caf::replies_to<typing_atom, std::string, std::string, std::string>::with<std::uint64_t>,
    // (user, peer_change): one of the two users of this direct conversation became friends
    // with the other, or not, or set or lifted a block; answers once durable.
    caf::replies_to<peers_atom, std::string, std::uint16_t>::with<std::uint64_t>,
    // The retention sweeper's visit: delete what has outlived the time to live.
    caf::reacts_to<expire_atom>>;

/// The conversation with this client-facing id ("dm/a/b" or "group/g", well formed).
inline entity_handle<interface> of(const std::string& conversation) {
  return entity_handle<interface>(runtime::conversation_entity(conversation));
}

}  // namespace conversation

}  // namespace parley::actors
