#pragma once
// What an app server asks of the entities (the app port, server/app_port.hpp), as plain
// functions: each runs in a short-lived actor that asks the entities through the router, as a
// client's request would (so a remote or moving entity is reached the same way), and calls
// `done` once, on a CAF worker thread, with the answer or the error. The app port validates
// with the client edge's own functions (validation.hpp) before calling these.

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/actors/validation.hpp"
#include "parley/schema/error.hpp"

#include <functional>
#include <string>
#include <vector>

namespace parley::actors {

/// A group made for an app: what the group answered after the last member was added.
struct group_created {
  std::string group;
  std::string name;
  std::uint32_t members = 0;  ///< The owner and the members added.
};

/// Creates `create.group` owned by `owner`, then adds each of `members` as the owner would.
/// Fails with the first error (a member that cannot be added names itself in the message).
void create_group_as(services& svc, std::string owner, validated_group_create create,
                     std::vector<std::string> members,
                     std::function<void(result<group_created>)> done);

/// Adds each of `members` to `group` with the app's authority (as the owner would: the member
/// limit and each user's group cap apply); answers the group's member count afterwards. Fails
/// with the first error (the member that cannot be added names itself in the message).
void add_members_as_app(services& svc, std::string group, std::vector<std::string> members,
                        std::function<void(result<std::uint32_t>)> done);

/// Removes each of `members` from `group` with the app's authority (barred from rejoining an
/// open group, as after an admin's kick); users who are not members are skipped. Answers how
/// many were removed.
void remove_members_as_app(services& svc, std::string group, std::vector<std::string> members,
                           std::function<void(result<std::uint32_t>)> done);

/// Makes member `user` of `group` an admin or a plain member (wire::GroupRole value).
void set_role_as_app(services& svc, std::string group, std::string user, std::uint16_t role,
                     std::function<void(result<group_info>)> done);

/// Hands `group` to its member `user`; the old owner becomes an admin.
void transfer_as_app(services& svc, std::string group, std::string user,
                     std::function<void(result<group_info>)> done);

/// Ends `group` (its members are told); answers how many members it had.
void dismiss_as_app(services& svc, std::string group,
                    std::function<void(result<std::uint64_t>)> done);

/// `group` as its members see it.
void describe_group(services& svc, std::string group,
                    std::function<void(result<group_summary>)> done);

/// `group`'s members with ids after `after`, by id, at most `limit` (0: the default page).
void group_members(services& svc, std::string group, std::string after, std::uint32_t limit,
                   std::function<void(result<member_page>)> done);

/// `conversation`'s messages before `before_seq` (0: from the newest), newest first, as the app
/// reads them: any conversation, from its first message (no member's join point applies).
void read_history(services& svc, std::string conversation, std::uint64_t before_seq,
                  std::uint32_t limit, std::function<void(result<record_page>)> done);

/// Replaces `user`'s profile with `profile` (a flat wire Profile, validated).
void set_profile_as_app(services& svc, std::string user, std::string profile,
                        std::function<void(result<bool>)> done);
/// `user`'s whole profile (a flat wire Profile; "" if none was set).
void profile_of(services& svc, std::string user, std::function<void(result<std::string>)> done);
/// `user`'s relation op (relation_op) with `other`, as its client's; answers the relation.
void relate_as_app(services& svc, std::string user, std::uint16_t op, std::string other,
                   std::string message, std::function<void(result<std::uint16_t>)> done);

/// Sets how long `conversation` (a valid id) keeps its messages (ms; 0: kept), as the app.
void set_retention_as_app(services& svc, std::string conversation, std::uint64_t ttl_ms,
                          std::function<void(result<std::uint64_t>)> done);

/// `entity_id` (a valid entity id) as an operator sees it, from the node owning its shard.
void inspect_entity(services& svc, std::string entity_id,
                    std::function<void(result<entity_report>)> done);

/// Sends `send` (validated for its sender) as a client's Send would: within the sender's
/// stored-bytes quota, answered once durable. A system message (sender by_app) counts against
/// no quota.
void send_as(services& svc, validated_send send, std::function<void(result<send_ack>)> done);

/// Ends `user`'s sessions on `device` ("" for every device), each told kickedByApp with
/// `detail`; answers how many ended.
void kick_sessions(services& svc, std::string user, std::string device, std::string detail,
                   std::function<void(result<std::uint64_t>)> done);

/// `user`'s online sessions, oldest first.
void sessions_of(services& svc, std::string user,
                 std::function<void(result<std::vector<session_info>>)> done);

/// Refuses `user`'s tokens issued before now and ends its sessions (tokenRevoked); answers how
/// many ended, once durable.
void revoke_tokens(services& svc, std::string user,
                   std::function<void(result<std::uint64_t>)> done);

/// Bans `user` (logins refused with `banned`) and ends its sessions; answers how many ended,
/// once durable.
void ban_user(services& svc, std::string user, ban_spec ban,
              std::function<void(result<std::uint64_t>)> done);

/// Lifts `user`'s ban; answers whether one was in force.
void unban_user(services& svc, std::string user, std::function<void(result<bool>)> done);

}  // namespace parley::actors
