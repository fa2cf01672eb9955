// imctl group create|add|remove|info|members: a group managed through a node's app port
// (schema/app.capnp), with the app's authority.
#include "commands.hpp"

#include "app_rpc.hpp"

#include "client.capnp.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace parley::cli {

namespace {

const char* role_name(wire::GroupRole role) {
  switch (role) {
    case wire::GroupRole::OWNER:
      return "owner";
    case wire::GroupRole::ADMIN:
      return "admin";
    default:
      return "member";
  }
}

/// Options every group command shares: the group, the node, --json.
struct group_opts {
  app_target target;
  std::string group;
  bool json = false;

  void add_to(CLI::App& cmd, bool group_required = true) {
    auto* g = cmd.add_option("group", group, "Group id");
    if (group_required) g->required();
    cmd.add_flag("--json", json, "Answer as JSON");
    target.add_to(cmd);
  }
};

template <class List>
void fill(List list, const std::vector<std::string>& xs) {
  for (unsigned i = 0; i < xs.size(); ++i) list.set(i, xs[i]);
}

}  // namespace

command add_group_create(CLI::App& group) {
  auto* cmd = group.add_subcommand("create", "Create a group owned by a user");
  struct opts : group_opts {
    std::string owner;
    std::string name;
    std::vector<std::string> members;
    bool open = false;
  };
  auto o = std::make_shared<opts>();
  o->add_to(*cmd, false);
  cmd->add_option("--owner", o->owner, "Owner's user id")->required();
  cmd->add_option("--name", o->name, "Display name");
  cmd->add_option("--members", o->members, "Members to add (space-separated)");
  cmd->add_flag("--open", o->open, "Anyone may join (default: invite-only)");
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto req = engine.groupsRequest().send().wait(ws).getGroups().createRequest();
      req.setOwner(o->owner);
      req.setGroup(o->group);
      req.setName(o->name);
      req.setOpen(o->open);
      fill(req.initMembers(static_cast<unsigned>(o->members.size())), o->members);
      auto made = req.send().wait(ws);
      if (o->json) {
        std::cout << nlohmann::json{{"group", made.getGroup().cStr()},
                                    {"members", made.getMembers()}}
                         .dump()
                  << "\n";
      } else {
        std::cout << "created " << made.getGroup().cStr() << " with " << made.getMembers()
                  << " members\n";
      }
      return 0;
    });
  };
}

command add_group_add(CLI::App& group) {
  auto* cmd = group.add_subcommand("add", "Add members to a group");
  struct opts : group_opts {
    std::vector<std::string> members;
  };
  auto o = std::make_shared<opts>();
  o->add_to(*cmd);
  cmd->add_option("members", o->members, "Users to add")->required();
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto req = engine.groupsRequest().send().wait(ws).getGroups().addMembersRequest();
      req.setGroup(o->group);
      fill(req.initMembers(static_cast<unsigned>(o->members.size())), o->members);
      const auto count = req.send().wait(ws).getMembers();
      if (o->json) {
        std::cout << nlohmann::json{{"members", count}}.dump() << "\n";
      } else {
        std::cout << o->group << " has " << count << " members\n";
      }
      return 0;
    });
  };
}

command add_group_remove(CLI::App& group) {
  auto* cmd = group.add_subcommand("remove", "Remove members from a group");
  struct opts : group_opts {
    std::vector<std::string> members;
  };
  auto o = std::make_shared<opts>();
  o->add_to(*cmd);
  cmd->add_option("members", o->members, "Users to remove")->required();
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto req = engine.groupsRequest().send().wait(ws).getGroups().removeMembersRequest();
      req.setGroup(o->group);
      fill(req.initMembers(static_cast<unsigned>(o->members.size())), o->members);
      const auto removed = req.send().wait(ws).getRemoved();
      if (o->json) {
        std::cout << nlohmann::json{{"removed", removed}}.dump() << "\n";
      } else {
        std::cout << "removed " << removed << " from " << o->group << "\n";
      }
      return 0;
    });
  };
}

command add_group_info(CLI::App& group) {
  auto* cmd = group.add_subcommand("info", "A group's owner, size and policy, and its members");
  auto o = std::make_shared<group_opts>();
  o->add_to(*cmd);
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto groups = engine.groupsRequest().send().wait(ws).getGroups();
      auto req = groups.infoRequest();
      req.setGroup(o->group);
      auto answer = req.send().wait(ws);
      auto info = answer.getInfo();
      // Every member, page by page.
      auto members = nlohmann::json::array();
      std::string after;
      for (bool more = true; more;) {
        auto page_req = groups.membersRequest();
        page_req.setGroup(o->group);
        page_req.setAfter(after);
        page_req.setLimit(200);
        auto page = page_req.send().wait(ws);
        for (auto m : page.getMembers()) {
          after = m.getUser().cStr();
          members.push_back({{"user", after}, {"role", role_name(m.getRole())}});
        }
        more = page.getMore() && page.getMembers().size() > 0;
      }
      if (o->json) {
        std::cout << nlohmann::json{{"group", info.getGroup().cStr()},
                                    {"name", info.getName().cStr()},
                                    {"owner", info.getOwner().cStr()},
                                    {"members", info.getMembers()},
                                    {"open", info.getOpen()},
                                    {"shareHistory", info.getShareHistory()},
                                    {"createdMs", info.getCreatedMs()},
                                    {"memberList", members}}
                         .dump()
                  << "\n";
        return 0;
      }
      std::cout << info.getGroup().cStr() << " \"" << info.getName().cStr() << "\": owner "
                << info.getOwner().cStr() << ", " << info.getMembers() << " members, "
                << (info.getOpen() ? "open" : "invite-only") << "\n";
      for (const auto& m : members) {
        std::cout << "  " << m["user"].get<std::string>() << "\t" << m["role"].get<std::string>()
                  << "\n";
      }
      return 0;
    });
  };
}

}  // namespace parley::cli
