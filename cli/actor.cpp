// imctl actor inspect|list: entities as an operator sees them, through a node's app port
// (schema/app.capnp, Inspection).
#include "commands.hpp"

#include "app_rpc.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>
#include <string>

namespace parley::cli {

command add_actor_inspect(CLI::App& actor) {
  auto* cmd = actor.add_subcommand("inspect", "One entity: owner, state, mailbox, figures");
  struct opts {
    app_target target;
    std::string entity;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("entity", o->entity, "Entity id: user/U, group/G, conv/dm/A/B, conv/group/G")
      ->required();
  cmd->add_flag("--json", o->json, "Answer as JSON");
  o->target.add_to(*cmd);
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto req = engine.inspectionRequest().send().wait(ws).getInspection().inspectRequest();
      req.setEntity(o->entity);
      auto answer = req.send().wait(ws);
      auto r = answer.getReport();
      if (o->json) {
        nlohmann::json figures = nlohmann::json::object();
        for (auto f : r.getFigures()) figures[f.getName().cStr()] = f.getValue();
        std::cout << nlohmann::json{{"entity", r.getEntity().cStr()},
                                    {"node", r.getNode().cStr()},
                                    {"shard", r.getShard()},
                                    {"active", r.getActive()},
                                    {"mailbox", r.getMailbox()},
                                    {"writesInFlight", r.getWritesInFlight()},
                                    {"figures", figures}}
                         .dump()
                  << "\n";
        return 0;
      }
      std::cout << r.getEntity().cStr() << " on " << r.getNode().cStr() << ", shard "
                << r.getShard() << ": "
                << (r.getActive()
                        ? "active, mailbox " + std::to_string(r.getMailbox()) +
                              ", writes in flight " + std::to_string(r.getWritesInFlight())
                        : std::string("passivated"))
                << "\n";
      for (auto f : r.getFigures()) {
        std::cout << "  " << f.getName().cStr() << "\t" << f.getValue() << "\n";
      }
      return 0;
    });
  };
}

command add_actor_list(CLI::App& actor) {
  auto* cmd = actor.add_subcommand("list", "Entities active on the node");
  struct opts {
    app_target target;
    std::string prefix;
    std::string after;
    std::uint32_t limit = 100;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  cmd->add_option("--prefix", o->prefix, "Only ids starting with this (user/, group/t, ...)");
  cmd->add_option("--after", o->after, "Start after this id (the next page)");
  cmd->add_option("--limit", o->limit, "At most this many (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Answer as JSON");
  o->target.add_to(*cmd);
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    return with_engine(o->target, [&](app::Engine::Client engine, kj::WaitScope& ws) {
      auto req = engine.inspectionRequest().send().wait(ws).getInspection().listRequest();
      req.setPrefix(o->prefix);
      req.setAfter(o->after);
      req.setLimit(o->limit);
      auto answer = req.send().wait(ws);
      auto ids = nlohmann::json::array();
      for (auto id : answer.getEntities()) ids.push_back(id.cStr());
      if (o->json) {
        std::cout << nlohmann::json{{"node", answer.getNode().cStr()},
                                    {"entities", ids},
                                    {"more", answer.getMore()}}
                         .dump()
                  << "\n";
        return 0;
      }
      for (const auto& id : ids) std::cout << id.get<std::string>() << "\n";
      if (answer.getMore()) {
        std::cout << "(more: --after " << ids.back().get<std::string>() << ")\n";
      }
      return 0;
    });
  };
}

}  // namespace parley::cli
