#include "parley/runtime/basp_sockets.hpp"

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/scoped_actor.hpp>

#include <set>
#include <string>

namespace parley::runtime {

namespace {

/// BASP files published actors by the port they were published at; a node serves one actor,
/// its gate, on every tunnel, filed under this key (no socket has it as its port).
constexpr std::uint16_t gate_key = 1;

/// The broker the middleman made when it started (a lookup, not a spawn, from then on).
caf::actor basp_broker(caf::actor_system& system) {
  return system.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

}  // namespace

void serve_gate_over(caf::actor_system& system, int fd, const caf::actor& gate) {
  auto scribe = system.middleman().backend().new_scribe(fd);
  caf::anon_send(basp_broker(system), caf::publish_atom::value, std::move(scribe), gate_key,
                 caf::actor_cast<caf::strong_actor_ptr>(gate), std::set<std::string>{});
}

caf::expected<caf::actor> connect_gate_over(caf::actor_system& system, int fd,
                                            std::chrono::milliseconds timeout) {
  auto scribe = system.middleman().backend().new_scribe(fd);
  caf::scoped_actor self{system};
  caf::expected<caf::actor> result{caf::actor{}};
  self->request(basp_broker(system), timeout, caf::connect_atom::value, std::move(scribe), gate_key)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& peer, std::set<std::string>&) {
            if (peer) {
              result = caf::actor_cast<caf::actor>(std::move(peer));
            } else {
              result = caf::make_error(caf::sec::no_actor_published_at_port);
            }
          },
          [&](caf::error& e) { result = std::move(e); });
  return result;
}

}  // namespace parley::runtime
