#include "connection/hub.hpp"

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>

namespace parley::actors {

caf::behavior connection_hub::make_behavior() {
  set_down_handler([this](caf::down_msg& dm) { on_presence_down(dm.source); });
  return {
      [this](open_atom, std::uint64_t id, sink_ptr& sink, std::uint64_t opened_ns) {
        connections_.emplace(id,
                             std::make_unique<connection>(*this, id, std::move(sink), opened_ns));
      },
      [this](frame_atom, std::uint64_t id, schema::frame_words& words) {
        on(id, [&](connection& c) { c.on_frame(words); });
      },
      [this](badframe_atom, std::uint64_t id, std::uint16_t code) {
        on(id, [&](connection& c) { c.on_bad_stream(static_cast<errc>(code)); });
      },
      [this](closed_atom, std::uint64_t id) {
        on(id, [](connection& c) { c.on_closed(); });
        connections_.erase(id);
      },
      [this](push_atom, const std::vector<std::uint64_t>& ids, const std::string& frame) {
        push(ids, frame);
      },
      [this](kicked_atom, std::uint64_t id, std::uint16_t reason, std::string& detail) {
        on(id, [&](connection& c) { c.on_kicked(static_cast<wire::KickReason>(reason), detail); });
      },
      [this](timeout_atom, std::uint64_t id, std::uint16_t reason) {
        on(id, [&](connection& c) { c.on_timeout(reason); });
      },
      [this](reattach_atom, std::uint64_t id, std::uint32_t attempt) {
        on(id, [&](connection& c) { c.reattach(attempt); });
      },
      [this](stopping_atom) {
        for (auto& entry : connections_) {
          on(entry.first, [](connection& c) { c.on_node_stopping(); });
        }
      },
      [this](shutdown_atom) {
        for (auto& [id, c] : connections_) c->on_closed();
        connections_.clear();
        quit();
      },
  };
}

void connection_hub::watch(const caf::actor& presence, std::uint64_t id) {
  auto& ids = watchers_[presence.address()];
  if (ids.empty()) monitor(presence);
  ids.insert(id);
}

void connection_hub::unwatch(const caf::actor_addr& presence, std::uint64_t id) {
  auto it = watchers_.find(presence);
  if (it == watchers_.end()) return;
  it->second.erase(id);
  if (!it->second.empty()) return;
  watchers_.erase(it);
  demonitor(presence);
}

void connection_hub::push(const std::vector<std::uint64_t>& ids, const std::string& frame_bytes) {
  const auto frame = schema::share(schema::words_from_bytes(frame_bytes));
  for (auto id : ids) on(id, [&](connection& c) { c.push(frame); });
}

void connection_hub::on_presence_down(const caf::actor_addr& presence) {
  auto it = watchers_.find(presence);
  if (it == watchers_.end()) return;
  const auto ids = std::move(it->second);
  watchers_.erase(it);
  for (auto id : ids) on(id, [](connection& c) { c.on_presence_down(); });
}

caf::actor spawn_connection_hub(services& svc) {
  return svc.system->spawn<connection_hub>(&svc);
}

}  // namespace parley::actors
