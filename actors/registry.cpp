// The one place that registers CAF message types and maps id kinds to actor spawns.

#include "parley/actors/entities.hpp"
#include "parley/actors/hooks.hpp"
#include "parley/actors/messages.hpp"

#include "common/spawners.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/node_gate.hpp"

#include "client.capnp.h"

#include <caf/actor_system_config.hpp>

namespace parley::actors {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<user_set>("parley.user_set");
  cfg.add_message_type<send_request>("parley.send_request");
  cfg.add_message_type<send_ack>("parley.send_ack");
  cfg.add_message_type<record_page>("parley.record_page");
  cfg.add_message_type<history_query>("parley.history_query");
  cfg.add_message_type<inbox_event_spec>("parley.inbox_event_spec");
  cfg.add_message_type<group_info>("parley.group_info");
  cfg.add_message_type<group_spec>("parley.group_spec");
  cfg.add_message_type<group_summary>("parley.group_summary");
  cfg.add_message_type<group_update>("parley.group_update");
  cfg.add_message_type<member_entry>("parley.member_entry");
  cfg.add_message_type<std::vector<member_entry>>("parley.member_entries");
  cfg.add_message_type<member_page>("parley.member_page");
  cfg.add_message_type<join_request>("parley.join_request");
  cfg.add_message_type<std::vector<join_request>>("parley.join_requests");
  cfg.add_message_type<figure>("parley.figure");
  cfg.add_message_type<std::vector<figure>>("parley.figures");
  cfg.add_message_type<entity_report>("parley.entity_report");
  cfg.add_message_type<read_receipts>("parley.read_receipts");
  cfg.add_message_type<relation_entry>("parley.relation_entry");
  cfg.add_message_type<std::vector<relation_entry>>("parley.relation_entries");
  cfg.add_message_type<relation_page>("parley.relation_page");
  cfg.add_message_type<conversation_summary>("parley.conversation_summary");
  cfg.add_message_type<std::vector<conversation_summary>>("parley.conversation_summaries");
  cfg.add_message_type<conversation_list>("parley.conversation_list");
  cfg.add_message_type<presence_entry>("parley.presence_entry");
  cfg.add_message_type<std::vector<presence_entry>>("parley.presence_entries");
  cfg.add_message_type<session_info>("parley.session_info");
  cfg.add_message_type<std::vector<session_info>>("parley.session_infos");
  cfg.add_message_type<login_spec>("parley.login_spec");
  cfg.add_message_type<ban_spec>("parley.ban_spec");
  cfg.add_message_type<hook_verdict>("parley.hook_verdict");
  cfg.add_message_type<hook_install>("parley.hook_install");
  cfg.add_message_type<event_slice>("parley.event_slice");
  cfg.add_message_type<push_notice>("parley.push_notice");
  cfg.add_message_type<std::vector<std::uint64_t>>("parley.frame_words");
  cfg.add_message_type<runtime::shard_transfer>("parley.shard_transfer");
}

runtime::spawner make_entity_spawner(services& svc) {
  return [&svc](const std::string& id, std::uint32_t shard) -> caf::actor {
    auto ref = runtime::parse_entity(id);
    if (!ref) return {};  // the router answers `unavailable`; nothing is activated
    switch (ref->kind) {
      case runtime::entity_kind::user:
        return spawn_user(svc, id, std::move(ref->name), shard);
      case runtime::entity_kind::group:
        return spawn_group(svc, id, std::move(ref->name), shard);
      case runtime::entity_kind::conversation:
        return spawn_conversation(svc, id, std::move(ref->name), shard);
      case runtime::entity_kind::presence:
        return spawn_presence(svc, id, shard);
    }
    return {};
  };
}

}  // namespace parley::actors
