// Groups: create (as its owner) and the app's management of a group.

#include "capabilities.hpp"
#include "support.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/actors/validation.hpp"
#include "parley/runtime/random_id.hpp"
#include "parley/schema/ids.hpp"

#include "client.capnp.h"

#include <capnp/message.h>

#include <set>

namespace parley::server::app_rpc {

namespace {

using schema::text;

/// Most members one Groups call may add or remove.
constexpr std::size_t max_members_per_call = 1000;

/// The distinct valid user ids of `list`, without `except`; bad_request or limit_exceeded.
result<std::vector<std::string>> member_ids(capnp::List<capnp::Text>::Reader list,
                                            const std::string& except = "") {
  if (list.size() > max_members_per_call) {
    return {errc::limit_exceeded, "at most 1000 members per call; send the rest in another"};
  }
  std::vector<std::string> members;
  std::set<std::string> seen{except};
  for (auto m : list) {
    std::string member = text(m);
    if (!schema::valid_name(member)) return {errc::bad_request, "invalid member id"};
    if (seen.insert(member).second) members.push_back(std::move(member));
  }
  return members;
}

/// A group id from an app: a valid name.
bool valid_group(const std::string& group) {
  return schema::valid_name(group);
}

class groups_impl final : public app::Groups::Server {
 public:
  explicit groups_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> create(CreateContext context) override {
    auto p = context.getParams();
    const std::string owner = text(p.getOwner());
    if (!schema::valid_name(owner)) return refuse(errc::bad_request, "invalid owner id");
    // The client edge's rules for a CreateGroup, applied to the same fields.
    capnp::MallocMessageBuilder message;
    auto c = message.initRoot<wire::CreateGroup>();
    c.setGroupId(p.getGroup());
    c.setName(p.getName());
    c.setJoinPolicy(p.getJoinPolicy() != wire::JoinPolicy::INVITE_ONLY ? p.getJoinPolicy()
                    : p.getOpen()                                      ? wire::JoinPolicy::OPEN
                                  : wire::JoinPolicy::INVITE_ONLY);
    auto checked = actors::validate_create_group(c.asReader());
    if (!checked) return app_exception(checked.error());
    auto members = member_ids(p.getMembers(), owner);
    if (!members) return app_exception(members.error());
    if (checked->group.empty()) {
      auto id = runtime::random_id("g");
      if (!id) return app_exception(id.error());
      checked->group = std::move(*id);
    }
    auto answer = answer_from_caf<actors::group_created>();
    actors::create_group_as(svc_, owner, std::move(*checked), std::move(*members),
                            std::move(answer.callback));
    return answer.promise.then([context](actors::group_created g) mutable {
      auto r = context.getResults();
      r.setGroup(g.group);
      r.setName(g.name);
      r.setMembers(g.members);
    });
  }

  kj::Promise<void> addMembers(AddMembersContext context) override {
    auto p = context.getParams();
    const std::string group = text(p.getGroup());
    if (!valid_group(group)) return refuse(errc::bad_request, "invalid group id");
    auto members = member_ids(p.getMembers());
    if (!members) return app_exception(members.error());
    auto answer = answer_from_caf<std::uint32_t>();
    actors::add_members_as_app(svc_, group, std::move(*members), std::move(answer.callback));
    return answer.promise.then(
        [context](std::uint32_t count) mutable { context.getResults().setMembers(count); });
  }

  kj::Promise<void> removeMembers(RemoveMembersContext context) override {
    auto p = context.getParams();
    const std::string group = text(p.getGroup());
    if (!valid_group(group)) return refuse(errc::bad_request, "invalid group id");
    auto members = member_ids(p.getMembers());
    if (!members) return app_exception(members.error());
    auto answer = answer_from_caf<std::uint32_t>();
    actors::remove_members_as_app(svc_, group, std::move(*members), std::move(answer.callback));
    return answer.promise.then(
        [context](std::uint32_t removed) mutable { context.getResults().setRemoved(removed); });
  }

  kj::Promise<void> setRole(SetRoleContext context) override {
    auto p = context.getParams();
    const std::string group = text(p.getGroup());
    const std::string user = text(p.getUser());
    if (!valid_group(group)) return refuse(errc::bad_request, "invalid group id");
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    auto answer = answer_from_caf<actors::group_info>();
    actors::set_role_as_app(svc_, group, user, static_cast<std::uint16_t>(p.getRole()),
                            std::move(answer.callback));
    return answer.promise.then([](actors::group_info) {});
  }

  kj::Promise<void> transfer(TransferContext context) override {
    auto p = context.getParams();
    const std::string group = text(p.getGroup());
    const std::string heir = text(p.getNewOwner());
    if (!valid_group(group)) return refuse(errc::bad_request, "invalid group id");
    if (!schema::valid_name(heir)) return refuse(errc::bad_request, "invalid user id");
    auto answer = answer_from_caf<actors::group_info>();
    actors::transfer_as_app(svc_, group, heir, std::move(answer.callback));
    return answer.promise.then([](actors::group_info) {});
  }

  kj::Promise<void> dismiss(DismissContext context) override {
    const std::string group = text(context.getParams().getGroup());
    if (!valid_group(group)) return refuse(errc::bad_request, "invalid group id");
    auto answer = answer_from_caf<std::uint64_t>();
    actors::dismiss_as_app(svc_, group, std::move(answer.callback));
    return answer.promise.then([context](std::uint64_t members) mutable {
      context.getResults().setMembers(static_cast<std::uint32_t>(members));
    });
  }

  kj::Promise<void> info(InfoContext context) override {
    const std::string group = text(context.getParams().getGroup());
    if (!valid_group(group)) return refuse(errc::bad_request, "invalid group id");
    auto answer = answer_from_caf<actors::group_summary>();
    actors::describe_group(svc_, group, std::move(answer.callback));
    return answer.promise.then([context](actors::group_summary g) mutable {
      auto info = context.getResults().initInfo();
      info.setGroup(g.group);
      info.setName(g.name);
      info.setOwner(g.owner);
      info.setMembers(g.members);
      info.setOpen(g.join_policy == static_cast<std::uint16_t>(wire::JoinPolicy::OPEN));
      info.setJoinPolicy(static_cast<wire::JoinPolicy>(g.join_policy));
      info.setShareHistory(g.share_history);
      info.setCreatedMs(g.created_ms);
    });
  }

  kj::Promise<void> members(MembersContext context) override {
    auto p = context.getParams();
    const std::string group = text(p.getGroup());
    if (!valid_group(group)) return refuse(errc::bad_request, "invalid group id");
    const std::string after = text(p.getAfter());
    if (!after.empty() && !schema::valid_name(after)) {
      return refuse(errc::bad_request, "invalid user id in after");
    }
    auto answer = answer_from_caf<actors::member_page>();
    actors::group_members(svc_, group, after, p.getLimit(), std::move(answer.callback));
    return answer.promise.then([context](actors::member_page page) mutable {
      auto r = context.getResults();
      auto list = r.initMembers(static_cast<unsigned>(page.members.size()));
      for (unsigned i = 0; i < page.members.size(); ++i) {
        list[i].setUser(page.members[i].user);
        list[i].setRole(static_cast<wire::GroupRole>(page.members[i].role));
        list[i].setJoinedMs(page.members[i].joined_ms);
      }
      r.setMore(page.has_more);
    });
  }

 private:
  actors::services& svc_;
};

}  // namespace

kj::Own<app::Groups::Server> make_groups(actors::services& svc) {
  return kj::heap<groups_impl>(svc);
}

}  // namespace parley::server::app_rpc
