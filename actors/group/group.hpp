#pragma once
// What a group entity serves ("group/<g>"; group.cpp): its conversation's log to its members,
// and its membership, as a typed interface checked at compile time (route.hpp).

#include "conversation/conversation.hpp"

namespace parley::actors::group {

using interface = conversation_log::extend<
    // (creator, spec): creates the group with its creator as owner.
    caf::replies_to<create_atom, std::string, group_spec>::with<group_info>,
    // (user, message): joins an open group, or asks to join an approval group (answers
    // pending; the owner and admins are told, with the message).
    caf::replies_to<join_atom, std::string, std::string>::with<group_info>,
    // (by, user, accept): an admin (or the app) accepts or declines `user`'s request to join;
    // answers the group as `user` now stands in it.
    caf::replies_to<answerjoin_atom, std::string, std::string, bool>::with<group_info>,
    // (by): the pending requests to join, oldest first (admins and the app).
    caf::replies_to<joinreqs_atom, std::string>::with<std::vector<join_request>>,
    // (by, user, message): invites `user` (admins, the app; any member of an open group).
    caf::replies_to<invite_atom, std::string, std::string, std::string>::with<std::uint64_t>,
    // (user, accept): the invitee joins or declines.
    caf::replies_to<answerinv_atom, std::string, bool>::with<group_info>,
    // (by, user): an admin (or the app) adds a member.
    caf::replies_to<add_atom, std::string, std::string>::with<group_info>,
    // (user): leaves; answers the seq the member's reading ends at.
    caf::replies_to<leave_atom, std::string>::with<std::uint64_t>,
    // (by, user): an admin removes a member; answers as leave.
    caf::replies_to<kick_atom, std::string, std::string>::with<std::uint64_t>,
    // (by, user, role): the owner makes a member an admin or a plain member again.
    caf::replies_to<role_atom, std::string, std::string, std::uint16_t>::with<group_info>,
    // (by, user): the owner hands the group to another member (and becomes an admin).
    caf::replies_to<transfer_atom, std::string, std::string>::with<group_info>,
    // (by): the owner ends the group; answers how many members it had.
    caf::replies_to<dismiss_atom, std::string>::with<std::uint64_t>,
    // (user): the group as a member sees it.
    caf::replies_to<info_atom, std::string>::with<group_summary>,
    // (user, after user id, limit): members by user id, after `after`.
    caf::replies_to<members_atom, std::string, std::string, std::uint32_t>::with<member_page>,
    // (user, device, push frame): a member is typing; the frame goes to the other members'
    // online sessions (nothing is stored). Answers how many members it was sent for.
    caf::replies_to<typing_atom, std::string, std::string, std::string>::with<std::uint64_t>,
    // (by, update): an admin (or the app) replaces the group's profile and settings; answers
    // the group as `by` sees it.
    caf::replies_to<update_atom, std::string, group_update>::with<group_summary>,
    // (by, user, until ms; 0 lifts): an admin mutes a plain member; answers the until.
    caf::replies_to<mute_atom, std::string, std::string, std::uint64_t>::with<std::uint64_t>>;

/// The app acting (`by`, or a send's sender) may do what the owner may (see by_app).
using actors::by_app;

/// The group with this name (well formed).
inline entity_handle<interface> of(const std::string& group) {
  return entity_handle<interface>(runtime::group_entity(group));
}

}  // namespace parley::actors::group

namespace parley::actors {

/// The entity serving reads of a checked conversation to its users: the conversation itself
/// for a direct or system one, the group (which checks membership) for a group one.
inline entity_handle<conversation_log> conversation_log_of(const runtime::conversation_ref& ref,
                                                           const std::string& conversation) {
  if (ref.is_group) return group::of(ref.group);
  return conversation::of(conversation);
}

}  // namespace parley::actors
