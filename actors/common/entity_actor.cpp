#include "common/entity_actor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

namespace parley::actors {

caf::error storage_error(const store::status& st) {
  return make_error(errc::internal, "storage: " + st.message());
}

entity_actor::entity_actor(caf::actor_config& cfg, services* svc, std::string id,
                           std::uint32_t shard)
    : caf::event_based_actor(cfg), svc_(*svc), id_(std::move(id)), shard_(shard) {}

void entity_actor::commit(store::write_batch batch, commit_callback then) {
  const std::uint64_t token = next_token_++;
  in_flight_.emplace(token, std::move(then));
  svc_.committer->submit(std::move(batch),
                         [self = caf::actor_cast<caf::actor>(this), token](const store::status& st) {
                           caf::anon_send(self, committed_atom::value, token,
                                          static_cast<std::uint8_t>(st.code()), st.message());
                         });
}

void entity_actor::on_committed(std::uint64_t token, const store::status& st) {
  auto it = in_flight_.find(token);
  if (it == in_flight_.end()) return;
  auto then = std::move(it->second);
  in_flight_.erase(it);
  then(st);
  if (!st.ok()) {
    svc_.router->forget(id_, address());
    quit(caf::exit_reason::user_shutdown);
  }
}

void entity_actor::maybe_passivate() {
  if (!in_flight_.empty() || !may_passivate()) return;
  if (svc_.router->try_passivate(id_, address(), [this] { return mailbox().empty(); })) {
    quit();
  }
}

caf::behavior entity_actor::fail_activation(const store::status& st) {
  svc_.router->forget(id_, address());
  quit(caf::exit_reason::user_shutdown);
  return {};
}

}  // namespace parley::actors
