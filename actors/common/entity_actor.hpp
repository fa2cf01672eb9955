#pragma once
// Base of the virtual actors (user, group, conversation): identity, group-committed writes, and
// passivation when idle. See runtime/router.hpp for why passivation cannot lose a message.

#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/runtime/group_committer.hpp"
#include "parley/runtime/router.hpp"
#include "parley/store/store.hpp"

#include <caf/deduce_mpi.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/interface_mismatch.hpp>
#include <caf/send.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

namespace parley::actors {

/// Logs a storage failure (the store's own words, for the operator), at most once a second
/// however many requests fail.
void log_storage_error(const error& st);

/// A storage failure as an entity's reply: the store's error itself (the session turns it into
/// `unavailable` or `internal` with a generic sentence), logged by log_storage_error.
caf::error storage_error(const error& st);

class entity_actor : public caf::event_based_actor {
 public:
  entity_actor(caf::actor_config& cfg, services* svc, std::string id, std::uint32_t shard);

  const char* name() const override { return id_.c_str(); }

  /// Counts the message into queued() before CAF queues it (any thread).
  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override;

  /// Messages queued for this actor and not yet handled; any thread may read it (relaxed, so
  /// it may be a message behind). Kept by hand because CAF 0.17's mailbox().size() moves the
  /// queue's new arrivals into the list the actor is consuming, which is undefined from inside
  /// a handler (UBSan showed it) and racy from any other thread.
  std::uint64_t queued() const {
    const std::int64_t n = queued_.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::uint64_t>(n) : 0;
  }

 protected:
  using commit_callback = std::function<void(const error&)>;

  /// Writes `batch` through the group committer; `then` runs in this actor once it is durable
  /// or failed. After a failure the actor leaves (its in-memory seqs may be ahead of the disk);
  /// the next message reactivates it from what is stored.
  void commit(store::write_batch batch, commit_callback then);

  /// Handler for the committer's answers; part of every entity behavior.
  auto commit_handler() {
    return [this](committed_atom, std::uint64_t token, const caf::error& outcome) {
      on_committed(token, from_caf(outcome));
    };
  }

  /// Passivation on idleness; part of every entity behavior. A tick every idle_timeout checks
  /// whether anything but the tick itself arrived since the previous one. (CAF's `after` would
  /// re-arm a timer in the shared actor clock on every message: measurably slower.)
  auto idle_handler() {
    return [this](tick_atom) { on_idle_tick(); };
  }

  /// Migration: the router has already removed this actor; finish the writes in flight, then
  /// quit. Part of every entity behavior.
  auto drain_handler() {
    return [this](drain_atom) {
      draining_ = true;
      on_drain();
      leave_if_drained();
    };
  }

  /// Draining and nothing left to finish: quit. A subclass holding requests of its own (held
  /// by holds_requests) calls it when it lets the last go.
  void leave_if_drained() {
    if (draining_ && !leaving_ && in_flight_.empty() && !holds_requests()) leave();
  }

  /// Inspection (for operators, through the presence actor of the shard): the mailbox, the
  /// writes in flight and the entity's own figures. Part of every entity behavior.
  auto inspect_handler() {
    return [this](inspect_atom) { return report(); };
  }

  /// This activation as an operator sees it.
  entity_report report();

  /// The entity's own figures for report(), from its memory.
  virtual void add_figures(std::vector<figure>&) const {}

  /// An entity's behavior: `handlers` must serve `Interface` exactly (checked at compile time:
  /// every request it lists with its reply type, nothing else), plus the commit, idle and
  /// drain and inspect handlers every entity has.
  /// The check is CAF's own (what typed_behavior does), made at compile time only: the
  /// behavior stays one flat list, so a commit or tick message, one per write, is matched in
  /// one pass.
  template <class Interface, class... Handlers>
  caf::behavior serve(Handlers... handlers) {
    using found = caf::detail::type_list<caf::deduce_mpi_t<Handlers>...>;
    static_assert(caf::interface_mismatch_t<found, typename Interface::signatures>::value ==
                      static_cast<int>(sizeof...(Handlers)),
                  "the handlers do not serve exactly the entity's interface");
    return {std::move(handlers)..., commit_handler(), idle_handler(), drain_handler(),
            inspect_handler()};
  }

  /// Subclasses veto passivation while they must stay (e.g. a user with sessions). No tick is
  /// pending while the veto holds (an online user would otherwise carry a timer for nothing):
  /// a tick that finds the veto stops the ticks, and the first message handled without it
  /// starts them again.
  virtual bool may_passivate() const { return true; }
  /// Requests accepted but not yet written (a drain waits for them too).
  virtual bool holds_requests() const { return false; }
  /// A drain began: answer what must not wait for the actor's end (before the writes in
  /// flight finish).
  virtual void on_drain() {}

  /// Counts every message, for idle detection and queued(), and (re)starts the idle ticks when
  /// needed. The exception boundary: a handler that throws is logged with this entity's id, its
  /// request (if any) answered `internal`, and the actor fails (see fail()).
  caf::invoke_message_result consume(caf::mailbox_element& x) override;

  /// The behavior of an actor that could not load its state: it leaves the router and quits,
  /// so queued requests fail with a retriable error and the next one reactivates.
  caf::behavior fail_activation(const error& st);

  services& svc_;
  const std::string id_;
  const std::uint32_t shard_;

 private:
  void on_committed(std::uint64_t token, const error& st);
  /// After a throw the in-memory state cannot be trusted: answer everything `unavailable`
  /// (retriable) until the writes in flight are done, then leave the router and quit, so that
  /// the next message reactivates the entity from the store. (Leaving the router at once would
  /// let a new activation read the store before those writes land.)
  void fail();
  /// Forgets this activation in the router (the next message activates a fresh one from the
  /// store) and quits.
  void leave_router_and_quit();
  /// Answers request `x` with `err` (nothing if it is not a request or already answered).
  void answer(caf::mailbox_element& x, caf::error err);
  void on_idle_tick();
  void start_idle_ticks();
  /// quit(), and no more ticks.
  void leave(caf::exit_reason reason = caf::exit_reason::normal);

  std::uint64_t next_token_ = 1;
  std::uint64_t consumed_ = 0;
  /// Arrived (enqueue) minus handled (consume). Signed and clamped by queued(), so that a
  /// miscount could never show as a mailbox of 2^64 messages.
  std::atomic<std::int64_t> queued_{0};
  std::uint64_t consumed_at_tick_ = 0;
  bool ticking_ = false;
  bool leaving_ = false;
  bool draining_ = false;
  bool failed_ = false;
  std::unordered_map<std::uint64_t, commit_callback> in_flight_;
};

}  // namespace parley::actors
