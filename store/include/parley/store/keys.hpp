#pragma once
// Key layout. Every key belongs to exactly one entity (virtual actor) and lives in the column
// family of that entity's shard:
//
//   <u16 BE length of entity id><entity id><record tag><suffix>
//
// The entity id starts with its kind ("user/", "group/", "conv/"), so keys read as
// <kind><id><record><suffix>. The length prefix makes one entity's keys a contiguous range that
// no other id can interleave with (even one that extends it, like "user/al" vs "user/alice").
// For log records the suffix is the seq as 8 bytes big-endian, so keys sort by seq.

#include <cstdint>
#include <string>
#include <string_view>

namespace parley::store {

/// The kinds of record an entity owns. The tag is one byte in the key.
enum class record : char {
  message = 'm',       ///< conversation: message log, suffix = seq.
  dedupe = 'd',        ///< conversation: (sender, device, client msg id) -> seq.
  inbox = 'i',         ///< user: inbox event log, suffix = seq.
  read_cursor = 'r',   ///< user: conversation id -> read seq; conversation: user -> read seq.
  membership = 'c',    ///< user: conversation id -> "" (the user's conversations).
  state = 's',         ///< group: whole state; direct conversation: its peers' relation.
  relation = 'f',      ///< user: other user id -> friend, request or block (records.capnp).
  presence = 'p',      ///< presence: user id -> its chosen status and last seen time.
  watch = 'w',         ///< presence: <watched user>\0<watcher> -> until when (ms, BE).
  mention = 'n',       ///< conversation: <user>\0<seq BE> (or \0<seq BE> for @all) -> "".
  stored = 'q',        ///< user: bytes of message bodies it has stored (its quota), no suffix.
  access = 'a',        ///< presence: user id -> the app's revocation and ban of that user.
  event = 'e',         ///< presence: the shard's event log (event_log.hpp), suffix = seq.
  member = 'b',        ///< group: member user id -> its role and join point (GroupMember).
  barred = 'x',        ///< group: user id removed by an admin -> "" (may not join until added).
  join_request = 'j',  ///< group: requester's user id -> its request (GroupPending).
  invitation = 'v',    ///< group: invitee's user id -> the invitation (GroupPending).
  retention = 't',     ///< presence: conversation id -> its time to live (ms, BE): the shard's
                       ///< index of conversations the retention sweeper visits.
};

/// Longest entity id the layout accepts.
constexpr std::size_t max_entity_id_bytes = 1024;

/// Prefix of all keys of one entity.
std::string entity_prefix(std::string_view entity_id);
/// Prefix of all keys of one record kind of one entity.
std::string record_prefix(std::string_view entity_id, record rec);
/// Key of one entry of a seq-ordered log.
std::string seq_key(std::string_view entity_id, record rec, std::uint64_t seq);
/// Key of a named entry (e.g. a read cursor per conversation).
std::string named_key(std::string_view entity_id, record rec, std::string_view name);
/// The smallest string greater than every string that starts with `prefix`.
std::string prefix_end(std::string prefix);
/// Reads the big-endian seq at the end of a log key.
std::uint64_t seq_of_key(std::string_view key);
/// Encodes/decodes a u64 as 8 bytes big-endian (also used as a value for seqs).
std::string encode_u64(std::uint64_t value);
std::uint64_t decode_u64(std::string_view bytes);

}  // namespace parley::store
