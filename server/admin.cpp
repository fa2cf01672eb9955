#include "admin.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/log.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <memory>

namespace parley::server::admin {

namespace {

using json = nlohmann::json;

constexpr auto inspect_wait = std::chrono::seconds(5);

answer refusal(int status, const std::string& code, const std::string& message) {
  return {status, json{{"error", code}, {"message", message}}.dump()};
}

answer refusal(int status, const error& err) {
  return refusal(status,
                 std::string(err.category()->name) + "." + err.category()->code_name(err.code()),
                 err.message());
}

std::string param(const request& req, const std::string& name) {
  auto it = req.params.find(name);
  return it == req.params.end() ? std::string() : it->second;
}

answer status(const context& ctx) {
  const node_view v = ctx.view();
  const auto& s = v.stats;
  json members = json::array();
  if (ctx.cluster) {
    for (const auto& id : ctx.cluster->member_ids()) members.push_back(id);
  } else {
    members.push_back(v.node);
  }
  json out = {
      {"node", v.node},
      {"cluster", ctx.cluster != nullptr},
      {"serving", s.serving},
      {"coordinating", s.coordinating},
      {"mapEpoch", s.map_epoch},
      {"members", members},
      {"owners", v.owners},
      {"counters",
       {{"connections", s.connections},
        {"logins", s.logins},
        {"messagesSent", s.messages_sent},
        {"pushes", s.pushes},
        {"badFrames", s.bad_frames},
        {"activeEntities", s.active_entities},
        {"shardMoves", s.shard_moves},
        {"shardMoveMs", s.shard_move_ms}}},
  };
  return {200, out.dump()};
}

answer inspect(const context& ctx, const std::string& entity) {
  if (!runtime::parse_entity(entity)) {
    return refusal(400, "request.bad_request",
                   "invalid entity id (user/<u>, group/<g>, conv/dm/<a>/<b>, conv/group/<g>, "
                   "presence/<shard>)");
  }
  auto done = std::make_shared<std::promise<result<actors::entity_report>>>();
  auto report = done->get_future();
  actors::inspect_entity(
      ctx.svc, entity, [done](result<actors::entity_report> r) { done->set_value(std::move(r)); });
  if (report.wait_for(inspect_wait) != std::future_status::ready) {
    return refusal(503, "request.timeout", "the entity's node did not answer in time");
  }
  auto r = report.get();
  if (!r) return refusal(r.error().retriable() ? 503 : 400, r.error());
  const auto& e = r.value();
  json figures = json::object();
  for (const auto& f : e.figures) figures[f.name] = f.value;
  json out = {{"entity", e.entity}, {"node", e.node},       {"shard", e.shard},
              {"active", e.active}, {"mailbox", e.mailbox}, {"writesInFlight", e.writes_in_flight},
              {"figures", figures}};
  return {200, out.dump()};
}

answer drain(const context& ctx, const std::string& node) {
  if (!ctx.cluster) return refusal(409, "cluster.unsupported", "a single node cannot drain");
  if (node.empty() || node.size() > 128) return refusal(400, "request.bad_request", "name a node");
  if (auto err = ctx.cluster->request_drain(node)) return refusal(400, err);
  return {200, json{{"draining", node}}.dump()};
}

answer backup(const context& ctx) {
  if (!ctx.backup) {
    return refusal(409, "node.bad_config", "this node has no backup dir (--backup-dir)");
  }
  auto made = ctx.backup();
  if (!made) return refusal(503, made.error());
  log::info("backup_made", {{"dir", made.value()}});
  return {200, json{{"backup", made.value()}}.dump()};
}

}  // namespace

answer handle(const context& ctx, const request& req) {
  constexpr std::string_view bearer = "Bearer ";
  const bool has_bearer = req.authorization.compare(0, bearer.size(), bearer) == 0;
  const error refused =
      has_bearer ? ctx.svc.tokens->verify_operator(req.authorization.substr(bearer.size()))
                 : error(runtime::auth_errc::malformed, "no operator token");
  if (refused) {
    log::warn("admin_refused", {{"peer", req.peer}, {"why", refused.describe()}});
    return refusal(401, "auth.not_authenticated", "an operator token is required");
  }
  if (req.method == "GET" && req.path == "/status") return status(ctx);
  if (req.method == "GET" && req.path == "/inspect") return inspect(ctx, param(req, "entity"));
  if (req.method == "POST" && req.path == "/drain") return drain(ctx, param(req, "node"));
  if (req.method == "POST" && req.path == "/backup") return backup(ctx);
  return refusal(404, "request.not_found", "no such admin call");
}

}  // namespace parley::server::admin
