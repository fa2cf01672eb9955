#pragma once
// What a group entity serves ("group/<g>"; group.cpp): its conversation's log to its members,
// and its membership, as a typed interface checked at compile time (route.hpp).

#include "conversation/conversation.hpp"

namespace parley::actors::group {

using interface = conversation_log::extend<
    // (creator, spec): creates the group with its creator as owner.
    caf::replies_to<create_atom, std::string, group_spec>::with<group_info>,
    // (user): joins an open group.
    caf::replies_to<join_atom, std::string>::with<group_info>,
    // (by, user): an admin adds a member.
    caf::replies_to<add_atom, std::string, std::string>::with<group_info>,
    // (user): leaves; answers the seq the member's reading ends at.
    caf::replies_to<leave_atom, std::string>::with<std::uint64_t>,
    // (by, user): an admin removes a member; answers as leave.
    caf::replies_to<kick_atom, std::string, std::string>::with<std::uint64_t>>;

/// The group with this name (well formed).
inline entity_handle<interface> of(const std::string& group) {
  return entity_handle<interface>(runtime::group_entity(group));
}

}  // namespace parley::actors::group
