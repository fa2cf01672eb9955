#pragma once
// The node gate: the one actor a node publishes to the others over CAF's middleman.
//
// A node that routes to an entity whose shard another node owns sends the gate of that node
//   request (route_atom, entity id, hops, message)         — the answer comes from the entity
//   (route_active_atom, entity id, hops, message)          — a push to an active entity
// The gate routes it on its own node and *delegates* the request, so the entity answers the
// original requester directly. If the gate's map says a third node owns the shard (its map is
// newer than the sender's), it forwards to that node's gate, at most `max_hops` times; otherwise
// it answers `unavailable` (retriable), e.g. while the owner is down or fenced.
//
// The gate also holds the requests for a shard that is being handed off (the router sends them
// here with hops == parked_hop) and replays them, in order, when the handoff ends
//   (resume_atom, shard)                                   — from the node, after finish_handoff
// to the new owner (or locally, if the move was aborted). See router.hpp.
//
// And it carries what the layers above exchange between nodes (the app's hook installs)
//   request (peer_atom, message) -> answer                 — handled by gate_hooks::peer
//
// Connections: between two nodes only the one with the smaller id connects (gate_directory),
// then introduces its own gate over that connection
//   (hello_atom, node id, incarnation, gate)               — the other side's way back
// One connection per pair is all CAF needs: proxies work both ways over it. (CAF 0.17's OpenSSL
// transport, used before the cluster link, lost messages when two nodes also connected the
// other way: both directions timed out, measured with two actor systems and an echo actor.)

#include "parley/runtime/router.hpp"
#include "parley/store/store.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/meta/type_name.hpp>

#include <functional>
#include <vector>

#include <map>
#include <mutex>

namespace parley::runtime {

using route_atom = caf::atom_constant<caf::atom("route")>;
using route_active_atom = caf::atom_constant<caf::atom("routeact")>;
using import_atom = caf::atom_constant<caf::atom("import")>;
using map_atom = caf::atom_constant<caf::atom("map")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using peer_atom = caf::atom_constant<caf::atom("peer")>;

/// A shard's exported column family on the wire (store::shard_export, flattened so CAF can
/// serialise it).
struct shard_transfer {
  std::uint32_t shard = 0;
  std::string comparator;
  std::vector<std::string> names, bytes, smallest_keys, largest_keys;
  std::vector<std::int32_t> levels;
  std::vector<std::uint64_t> smallest_seqnos, largest_seqnos;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_transfer& x) {
  return f(caf::meta::type_name("parley.shard_transfer"), x.shard, x.comparator, x.names, x.bytes,
           x.smallest_keys, x.largest_keys, x.levels, x.smallest_seqnos, x.largest_seqnos);
}

/// A shard's export as it travels, and back.
shard_transfer to_transfer(std::uint32_t shard, store::shard_export data);
store::shard_export from_transfer(const shard_transfer& t);

/// What a gate does for migrations, provided by the node.
struct gate_hooks {
  /// Imports a shard that is moving to this node (before the map says so).
  std::function<error(const shard_transfer&)> import;
  /// Adopts a newer shard map at once (told by the node that just moved a shard).
  std::function<void(std::uint64_t epoch, std::vector<node_id> owners)> apply_map;
  /// A node with a smaller id connected and introduced its gate.
  std::function<void(const node_id& node, std::int64_t incarnation, const caf::actor& gate)> hello;
  /// A message of the layers above from another node; runs in the gate, returns the answer.
  std::function<caf::message(caf::message&)> peer;
};

/// Most gate-to-gate forwards of one request.
constexpr std::uint8_t max_hops = 3;
/// The hops value of a request the router parked at its own node's gate.
constexpr std::uint8_t parked_hop = 0xFF;
/// Most requests a gate holds for one moving shard; more answer `unavailable` (retriable).
constexpr std::size_t max_parked_per_shard = 100000;

/// Spawns this node's gate over `r` (which must outlive it).
caf::actor spawn_node_gate(caf::actor_system& system, router& r, gate_hooks hooks);

/// Where a node's gate listens, and which incarnation (lease) of the node published it.
struct gate_address {
  std::string host;
  std::uint16_t port = 0;
  std::int64_t incarnation = 0;
  bool operator==(const gate_address& o) const {
    return host == o.host && port == o.port && incarnation == o.incarnation;
  }
};

/// Gates of the other nodes, resolved through the middleman when the member list changes.
class gate_directory final : public node_directory {
 public:
  /// Opens a connection to the gate published at an address (blocking): over the cluster
  /// link's TLS (basp_sockets.hpp), or CAF's plain middleman on an insecure cluster port.
  using connector = std::function<result<caf::actor>(const gate_address&)>;

  /// Spawns a watcher that monitors every gate: a gate whose node disconnects is forgotten at
  /// once, so requests for that node's shards fail fast as `unavailable`.
  gate_directory(caf::actor_system& system, connector connect);
  ~gate_directory() override;
  caf::actor gate(const node_id& node) const override;
  /// Number of other nodes whose gate is connected now.
  std::size_t reachable() const;
  /// The gates of the other nodes connected now.
  std::vector<caf::actor> connected() const;
  /// Called with each gate that connects (or connects again), after connected() has it. Set
  /// before the first update().
  void on_connect(std::function<void(const caf::actor& gate)> fn);
  /// Connects to the nodes with a greater id (or their new incarnations) not seen before, and
  /// retries those that could not be reached or whose connection dropped (blocking, 1-2 ms
  /// each), introducing this node's gate to each; forgets departed ones. Nodes with a smaller
  /// id connect to this one and introduce themselves (introduce()).
  void update(const std::map<node_id, gate_address>& nodes, const node_id& self);
  /// This node's own gate, sent to the nodes it connects to. Set before the first update().
  void set_own_gate(caf::actor gate);
  /// A node with a smaller id connected and said hello with its gate.
  void introduce(const node_id& node, std::int64_t incarnation, const caf::actor& gate);

 private:
  /// Tells on_connect_ of a gate just connected.
  void connected_now(const caf::actor& gate);
  /// Forgets the gate with this address (its node went away).
  void forget(const caf::actor_addr& gate);
  /// The watcher's behavior: monitors the gates it is given, forgets those that go down.
  static caf::behavior watch(caf::event_based_actor* self, gate_directory* dir);

  caf::actor_system& system_;
  const connector connect_;
  mutable std::mutex mu_;
  std::map<node_id, std::pair<gate_address, caf::actor>> gates_;
  caf::actor own_gate_;
  std::int64_t own_incarnation_ = 0;
  std::function<void(const caf::actor&)> on_connect_;
  caf::actor watcher_;
};

}  // namespace parley::runtime
