#include "common/entity_actor.hpp"
#include "parley/actors/entities.hpp"
#include "parley/schema/log.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/router.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <random>

namespace parley::actors {

void log_storage_error(const error& st) {
  // The operator gets the store's own words (file paths, RocksDB text) in the log, at most once
  // a second however many requests fail; the client a code and a generic sentence (to_wire).
  static std::atomic<std::int64_t> last_logged_s{0};
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count();
  auto last = last_logged_s.load(std::memory_order_relaxed);
  if (now_s != last && last_logged_s.compare_exchange_strong(last, now_s)) {
    log::error("storage_error", {{"detail", st.describe()}});
  }
}

caf::error storage_error(const error& st) {
  log_storage_error(st);
  return to_caf(st);
}

entity_actor::entity_actor(caf::actor_config& cfg, services* svc, std::string id,
                           std::uint32_t shard)
    : caf::event_based_actor(cfg), svc_(*svc), id_(std::move(id)), shard_(shard) {}

void entity_actor::commit(store::write_batch batch, commit_callback then) {
  const std::uint64_t token = next_token_++;
  in_flight_.emplace(token, std::move(then));
  svc_.committer->submit(std::move(batch),
                         [self = caf::actor_cast<caf::actor>(this), token](const error& st) {
                           caf::anon_send(self, committed_atom::value, token, to_caf(st));
                         });
}

void entity_actor::answer(caf::mailbox_element& x, caf::error err) {
  if (!x.mid.is_request() || x.mid.is_answered()) return;
  current_element_ = &x;
  auto rp = make_response_promise();
  rp.deliver(std::move(err));
}

void entity_actor::fail() {
  if (failed_) return;
  failed_ = true;
  if (in_flight_.empty()) leave_router_and_quit();
}

void entity_actor::leave_router_and_quit() {
  svc_.router->forget(id_, address());
  leave(caf::exit_reason::user_shutdown);
}

void entity_actor::on_committed(std::uint64_t token, const error& st) {
  auto it = in_flight_.find(token);
  if (it == in_flight_.end()) return;
  auto then = std::move(it->second);
  in_flight_.erase(it);
  then(st);
  if (failed_) {
    if (in_flight_.empty()) leave_router_and_quit();
  } else if (!st.ok()) {
    leave_router_and_quit();
  } else {
    leave_if_drained();
  }
}

void entity_actor::enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) {
  queued_.fetch_add(1, std::memory_order_relaxed);
  caf::event_based_actor::enqueue(std::move(what), host);
}

caf::invoke_message_result entity_actor::consume(caf::mailbox_element& x) {
  ++consumed_;
  queued_.fetch_sub(1, std::memory_order_relaxed);
  // (The type check runs only in the rare failed state: consume() is on every message's path.)
  if (failed_ && !x.content().match_elements<committed_atom, std::uint64_t, caf::error>()) {
    answer(x, make_error(errc::unavailable, id_ + " is restarting; retry"));
    return caf::invoke_message_result::consumed;
  }
  caf::invoke_message_result result = caf::invoke_message_result::consumed;
  try {
    if (svc_.inject_fault) svc_.inject_fault(id_);
    result = caf::event_based_actor::consume(x);
    // A skipped message stays queued and comes back to consume() later.
    if (result == caf::invoke_message_result::skipped)
      queued_.fetch_add(1, std::memory_order_relaxed);
  } catch (const std::exception& e) {
    log::error(
        "handler_failed",
        {{"entity", id_}, {"detail", e.what()}, {"action", "restarts from its stored state"}});
    answer(x, make_error(errc::internal, "internal error"));
    fail();
    return caf::invoke_message_result::consumed;
  }
  if (!ticking_ && !leaving_ && !draining_ && may_passivate()) {
    consumed_at_tick_ = consumed_;
    start_idle_ticks();
  }
  return result;
}

void entity_actor::leave(caf::exit_reason reason) {
  leaving_ = true;
  quit(reason);
}

void entity_actor::start_idle_ticks() {
  // Jittered by up to half a period: actors that went idle together (a mass logout, the end of
  // a burst) would otherwise all passivate in the same instant, and every message behind that
  // burst of thousands of passivations would wait for it (measured: a 1:1 benchmark step right
  // after 10,000 idle connections closed failed on p99).
  thread_local std::minstd_rand jitter{std::random_device{}()};
  const auto period = svc_.options.idle_timeout;
  const auto extra = std::uniform_int_distribution<std::int64_t>(0, period.count() / 2)(jitter);
  ticking_ = true;
  delayed_send(this, period + decltype(period)(extra), tick_atom::value);
}

void entity_actor::on_idle_tick() {
  if (!may_passivate()) {
    ticking_ = false;  // vetoed: no timer until a message is handled without the veto
    return;
  }
  // Idle: the tick was the only message since the previous tick, nothing is being written,
  // and the subclass agrees. Then leave, if the router confirms the mailbox is still empty.
  const bool idle = consumed_ == consumed_at_tick_ + 1 && in_flight_.empty();
  if (idle && svc_.router->try_passivate(id_, address(), [this] { return mailbox().empty(); })) {
    leave();
    return;
  }
  consumed_at_tick_ = consumed_;
  start_idle_ticks();
}

entity_report entity_actor::report() {
  entity_report r;
  r.entity = id_;
  r.node = svc_.router->self();
  r.shard = shard_;
  r.active = true;
  r.mailbox = queued();
  r.writes_in_flight = in_flight_.size();
  add_figures(r.figures);
  return r;
}

caf::behavior entity_actor::fail_activation(const error& st) {
  log_storage_error(st);  // the queued requests find the actor gone and get unavailable
  leave_router_and_quit();
  return {};
}

actor_census take_census(const runtime::router& router) {
  actor_census census;
  router.visit_active([&census](const std::string& id, const caf::actor& activation) {
    const auto kind = runtime::kind_of(id);
    if (!kind) return;
    kind_census& k = census[static_cast<std::size_t>(*kind)];
    ++k.active;
    const auto* entity =
        dynamic_cast<const entity_actor*>(caf::actor_cast<caf::abstract_actor*>(activation));
    if (!entity) return;
    const std::uint64_t waiting = entity->queued();
    k.queued += waiting;
    k.deepest = std::max(k.deepest, waiting);
  });
  return census;
}

}  // namespace parley::actors
