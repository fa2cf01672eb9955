#include "parley/runtime/basp_sockets.hpp"

#include "parley/runtime/cluster_errc.hpp"

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/scoped_actor.hpp>

#include <poll.h>
#include <unistd.h>

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

result<caf::actor> connect_gate_over(caf::actor_system& system, int fd,
                                     std::chrono::milliseconds timeout) {
  // CAF 0.17.6's broker files a connection it is asked to greet with "last seen" at the
  // clock's epoch (basp_broker.cpp, connect_atom: `ctx[hdl]` default-constructed), so its next
  // heartbeat tick (every 200 ms here) closes it with connection_timeout unless the peer's
  // server handshake has arrived by then. The peer sends that handshake at once, without
  // waiting for ours: wait until it is here, so the broker reads it in the same loop turn.
  // (Measured before: 3 of 9 dials to a joining node under load failed this way.)
  pollfd ready{fd, POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) {
    ::close(fd);
    return {cluster_errc::peer_unreachable, "the peer sent no handshake in time"};
  }
  auto scribe = system.middleman().backend().new_scribe(fd);
  caf::scoped_actor self{system};
  result<caf::actor> gate{cluster_errc::peer_unreachable, "no answer from the BASP broker"};
  self->request(basp_broker(system), timeout, caf::connect_atom::value, std::move(scribe), gate_key)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& peer, std::set<std::string>&) {
            if (peer) {
              gate = caf::actor_cast<caf::actor>(std::move(peer));
            } else {
              gate = error(cluster_errc::peer_unreachable, "the peer serves no gate");
            }
          },
          [&](caf::error& e) {
            gate = error(cluster_errc::peer_unreachable,
                         "the BASP handshake failed: " + caf::to_string(e));
          });
  return gate;
}

}  // namespace parley::runtime
