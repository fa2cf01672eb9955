// The retention sweeper: see parley/actors/retention.hpp.

#include "parley/actors/retention.hpp"

#include "common/entity_actor.hpp"
#include "common/route.hpp"
#include "conversation/conversation.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/router.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

namespace parley::actors {

namespace {

using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

/// Visits every conversation with a time to live in the shards this node owns now.
void sweep(services& svc) {
  constexpr std::size_t page = 1000;
  const auto& map = svc.router->map();
  for (std::uint32_t shard = 0; shard < map.shard_count(); ++shard) {
    if (map.owner(shard) != svc.router->self()) continue;
    const std::string prefix =
        store::record_prefix(runtime::presence_entity(shard), store::record::retention);
    const std::string end = store::prefix_end(prefix);
    for (std::string begin = prefix;;) {
      auto entries = svc.db->scan(shard, begin, end, page);
      if (!entries) {
        log_storage_error(entries.error());
        break;
      }
      for (const auto& e : *entries) {
        tell(svc, conversation::of(e.key.substr(prefix.size())), expire_atom::value);
      }
      if (entries->size() < page) break;
      begin = entries->back().key;
      begin.push_back('\0');
    }
  }
}

caf::behavior sweeper(caf::event_based_actor* self, services* svc) {
  self->delayed_send(self, svc->options.retention_sweep_interval, sweep_atom::value);
  return {
      [self, svc](sweep_atom) {
        sweep(*svc);
        self->delayed_send(self, svc->options.retention_sweep_interval, sweep_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_retention_sweeper(services& svc) {
  return svc.system->spawn(sweeper, &svc);
}

}  // namespace parley::actors
