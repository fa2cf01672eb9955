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

/// Most members a Groups.create may add in one call.
constexpr std::size_t max_members_per_create = 1000;

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
    c.setJoinPolicy(p.getOpen() ? wire::JoinPolicy::OPEN : wire::JoinPolicy::INVITE_ONLY);
    auto checked = actors::validate_create_group(c.asReader());
    if (!checked) return app_exception(checked.error());
    if (p.getMembers().size() > max_members_per_create) {
      return refuse(errc::limit_exceeded, "at most 1000 members per create; add the rest later");
    }
    std::vector<std::string> members;
    std::set<std::string> seen{owner};
    for (auto m : p.getMembers()) {
      std::string member = text(m);
      if (!schema::valid_name(member)) return refuse(errc::bad_request, "invalid member id");
      if (seen.insert(member).second) members.push_back(std::move(member));
    }
    if (checked->group.empty()) {
      auto id = runtime::random_id("g");
      if (!id) return app_exception(id.error());
      checked->group = std::move(*id);
    }
    auto answer = answer_from_caf<actors::group_created>();
    actors::create_group_as(svc_, owner, std::move(*checked), std::move(members),
                            std::move(answer.callback));
    return answer.promise.then([context](actors::group_created g) mutable {
      auto r = context.getResults();
      r.setGroup(g.group);
      r.setName(g.name);
      r.setMembers(g.members);
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
