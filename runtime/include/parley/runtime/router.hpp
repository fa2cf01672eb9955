#pragma once
// The router: entity id -> shard -> owner -> activation.
//
// Nobody spawns or looks up an entity actor by hand. A send to an id goes through the router,
// which hashes the id to its shard, asks the shard map for the owner, and, when this node owns
// the shard, hands the message to the id's activation, spawning it first if there is none
// (the actor loads its own state from the store on its first message).
//
// Passivation without losing messages: every delivery to an activation happens while holding
// its shard's lock, and an idle actor leaves only through try_passivate, which takes the same
// lock and succeeds only if the actor's mailbox is empty. So once an actor has been removed,
// no message can be on its way to it, and the next send simply activates a fresh one; and there
// is never more than one activation of an id on a node.
//
// Shards another node owns go to that node's gate actor (node_gate.hpp) over CAF's middleman:
// the caller's `remote` callback gets the gate and wraps its message; the gate routes it on
// its node and delegates, so the answer comes straight back to the caller. A node that is not
// serving (fenced: its etcd lease lapsed) answers `unavailable` for its own shards.
//
// Handoff without a lost or reordered request: while a shard moves, every send to it goes to
// *this* node's gate, marked parked, and the gate holds it. When the move ends (the map flipped
// or the move was aborted) the gate replays what it holds, in arrival order, to wherever the
// shard now lives. Ordering needs one more step: requests already on their way to the gate must
// not be overtaken by newer ones routed directly. So routing stays "via the gate" (resuming)
// until the gate has taken every parked request the router sent it; the router counts them under
// the shard lock, which also serialises the map flip against routing (see finish_handoff).
//
// Thread safety: every method may be called from any thread (actors, gateway, tests).
// Lifetime: owned by the node; outlives the entity actors, which hold a plain pointer to it.

#include "parley/runtime/shard_map.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::runtime {

/// What happened to a routed delivery.
enum class route_status {
  delivered,    ///< Handed to the activation (which may have just been spawned).
  forwarded,    ///< Handed to the owner node's gate.
  not_active,   ///< send_if_active only: no activation exists, nothing was sent.
  parked,       ///< The shard is moving: handed to this node's gate, which holds it.
  unavailable,  ///< This node does not own the shard, or the router is stopping.
};

/// Spawns the activation of an entity id on this node. Must not block.
using spawner = std::function<caf::actor(const std::string& entity_id, std::uint32_t shard)>;

/// Delivers to a local activation (runs under the shard lock: only enqueue).
using local_delivery = std::function<void(const caf::actor&)>;
/// Delivers through a gate: the gate of the node that owns the shard, or (`parked` true) this
/// node's own gate while the shard is being handed off; the message must then be marked parked.
using remote_delivery = std::function<void(const caf::actor& gate, bool parked)>;

/// Finds other nodes' gate actors (cluster mode). Thread-safe.
class node_directory {
 public:
  virtual ~node_directory() = default;
  /// The gate of `node`, or an invalid handle if it is unknown or unreachable.
  virtual caf::actor gate(const node_id& node) const = 0;
};

/// Routes messages to virtual actors. See the file comment.
class router {
 public:
  /// `nodes` (cluster mode) finds other nodes' gates; `serving` says whether this node may
  /// serve its own shards (false while fenced). Both optional for a single node.
  router(const shard_map& map, node_id self, spawner spawn, const node_directory* nodes = nullptr,
         std::function<bool()> serving = {});

  /// Calls `deliver(actor)` with the activation of `entity_id`, activating it if needed, or
  /// `remote(gate)` if another node owns its shard (if `remote` is empty: unavailable).
  route_status send_to(const std::string& entity_id, const local_delivery& deliver,
                       const remote_delivery& remote = {});

  /// Like send_to(), but only if the entity is active now; never activates. Used for pushes to
  /// presence actors, which are active while some user of their shard has a session.
  route_status send_if_active(const std::string& entity_id, const local_delivery& deliver,
                              const remote_delivery& remote = {});

  /// This node's id.
  const node_id& self() const { return self_; }

  /// Removes `self` as the activation of `entity_id` if `mailbox_empty()` holds under the
  /// shard lock. Returns true if removed: the caller must then quit.
  bool try_passivate(const std::string& entity_id, const caf::actor_addr& self,
                     const std::function<bool()>& mailbox_empty);

  /// Removes `self` unconditionally (an actor that failed and is about to quit).
  void forget(const std::string& entity_id, const caf::actor_addr& self);

  /// This node's gate, which holds requests for shards being handed off. Without one (single
  /// node), requests for a shard being handed off answer `unavailable`.
  void set_gate(caf::actor gate);

  /// Starts handing `shard` off: from now on requests for it are parked at the gate and nothing
  /// activates; returns its live activations, which the caller drains.
  std::vector<caf::actor> begin_handoff(std::uint32_t shard);
  /// Ends a handoff: runs `flip` (adopt the new map; empty for an aborted move) under the shard
  /// lock, so no request is routed half before and half after it. The caller then tells the
  /// gate to resume the shard (resume_atom); until the gate has replayed everything parked,
  /// new requests still queue behind it there.
  void finish_handoff(std::uint32_t shard, const std::function<void()>& flip = {});

  /// For the gate. A parked request reached it (`arrived`), or the handoff ended (resume).
  /// Runs `fn(open)` under the shard lock; `open` means the handoff is over and the gate must
  /// replay everything it holds for the shard, in order, through replay(). Routing goes direct
  /// again once the handoff is over and no parked request is still on its way to the gate.
  void settle_parked(std::uint32_t shard, bool arrived, const std::function<void(bool open)>& fn);
  /// For the gate, only inside settle_parked's `fn`: routes a held request (ignores the handoff).
  route_status replay(const std::string& entity_id, bool activate, const local_delivery& deliver,
                      const remote_delivery& remote);

  /// Stops activating; returns every live activation so the node can stop them.
  std::vector<caf::actor> shut_down();

  /// Number of live activations on this node.
  std::size_t active_count() const;

  /// Calls `visit` with every live activation, one shard at a time under its lock (so `visit`
  /// must not route, and should be quick). For scrapes, not for hot paths.
  void visit_active(const std::function<void(const std::string& entity_id,
                                             const caf::actor& activation)>& visit) const;

  /// Ids of live activations on this node that start with `prefix`, sorted, at most `limit`
  /// (the smallest), with `after` excluded and everything up to it.
  std::vector<std::string> active_ids(const std::string& prefix, const std::string& after,
                                      std::size_t limit) const;

  /// The shard of `entity_id`.
  std::uint32_t shard_of(const std::string& entity_id) const;

  /// The map this router follows.
  const shard_map& map() const { return map_; }

 private:
  struct slot {
    mutable std::mutex mu;
    std::unordered_map<std::string, caf::actor> actors;
    bool handing_off = false;  ///< Moving: park every request at the gate.
    bool resuming = false;     ///< Moved or aborted, but parked requests are still in flight.
    std::size_t parked_in_flight = 0;  ///< Sent to the gate as parked, not yet taken by it.
  };

  route_status route(const std::string& entity_id, bool activate, const local_delivery& deliver,
                     const remote_delivery& remote);
  /// Routing with `s.mu` held. `park` false: deliver even if the shard is moving (replay).
  route_status route_locked(slot& s, std::uint32_t shard, const std::string& entity_id,
                            bool activate, bool park, const local_delivery& deliver,
                            const remote_delivery& remote);

  const shard_map& map_;
  node_id self_;
  spawner spawn_;
  const node_directory* nodes_;
  std::function<bool()> serving_;
  caf::actor gate_;  // set once, before the node serves
  std::vector<std::unique_ptr<slot>> slots_;
  std::atomic<bool> stopping_{false};
};

}  // namespace parley::runtime
