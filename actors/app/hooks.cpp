// The hooks in force on a node (hook_table) and the spreading of installs between nodes. See
// hooks.hpp.

#include "parley/actors/hooks.hpp"

#include "parley/actors/services.hpp"
#include "parley/runtime/node_gate.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>

namespace parley::actors {

namespace {

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

caf::message install_message(const hook_install& x) {
  return caf::make_message(hook_install_atom::value, x);
}

}  // namespace

std::optional<before_send_hook> hook_table::before_send() const {
  if (!any_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  return before_send_;
}

caf::actor hook_table::offline_push() const {
  if (!any_.load(std::memory_order_acquire)) return {};
  std::lock_guard<std::mutex> lock(mu_);
  return push_;
}

caf::actor hook_table::bot(const std::string& user) const {
  if (!any_.load(std::memory_order_acquire)) return {};
  std::lock_guard<std::mutex> lock(mu_);
  auto it = bots_.find(user);
  return it == bots_.end() ? caf::actor{} : it->second;
}

bool hook_table::delivers_offline() const {
  if (!any_.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return push_ || !bots_.empty();
}

hook_install hook_table::stamp(hook_kind kind) const {
  hook_install x;
  x.kind = static_cast<std::uint8_t>(kind);
  x.origin = node_;
  std::lock_guard<std::mutex> lock(mu_);
  x.version = std::max(now_ms(), newest_ + 1);
  return x;
}

bool hook_table::apply(hook_install x) {
  if (x.kind >= installs_.size()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  newest_ = std::max(newest_, x.version);
  auto& current = installs_[x.kind];
  if (!x.newer_than(current)) return false;
  current = std::move(x);
  refresh();
  return true;
}

std::vector<hook_install> hook_table::own() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<hook_install> mine;
  for (auto& x : installs_) {
    if (x.version != 0 && x.origin == node_) mine.push_back(x);
  }
  return mine;
}

void hook_table::remove(const caf::actor_addr& handler) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& x : installs_) {
    if (x.handler && x.handler.address() == handler) x.handler = {};
  }
  refresh();
}

void hook_table::refresh() {
  const auto& send = installs_[static_cast<std::size_t>(hook_kind::before_send)];
  before_send_.reset();
  if (send.handler) {
    before_send_ =
        before_send_hook{send.handler, std::chrono::milliseconds(send.timeout_ms), send.fail_open};
  }
  push_ = installs_[static_cast<std::size_t>(hook_kind::offline_push)].handler;
  bots_.clear();
  const auto& bots = installs_[static_cast<std::size_t>(hook_kind::bots)];
  if (bots.handler) {
    for (auto& user : bots.bots) bots_.emplace(user, bots.handler);
  }
  any_.store(before_send_ || push_ || !bots_.empty(), std::memory_order_release);
}

void spread_hook(services& svc, hook_install install, std::function<void(std::uint32_t)> done) {
  std::vector<caf::actor> gates = svc.peer_gates ? svc.peer_gates() : std::vector<caf::actor>{};
  if (gates.empty()) return done(1);
  const auto timeout = svc.options.remote_request_timeout;
  // (Spawned with an argument: CAF 0.17 misbehaves with function-based actors that have none.)
  svc.system->spawn(
      [gates = std::move(gates), message = install_message(install), done = std::move(done)](
          caf::event_based_actor* self, caf::timespan timeout) {
        struct tally {
          std::size_t waiting;
          std::uint32_t applied = 1;  // this node
        };
        auto t = std::make_shared<tally>(tally{gates.size()});
        auto one_answered = [self, t, done](bool took) {
          if (took) ++t->applied;
          if (--t->waiting > 0) return;
          done(t->applied);
          self->quit();
        };
        for (auto& gate : gates) {
          // false: that node has a newer install in force.
          self->request(gate, timeout, runtime::peer_atom::value, message)
              .then([one_answered](bool) { one_answered(true); },
                    [one_answered](caf::error&) { one_answered(false); });
        }
      },
      caf::timespan(timeout));
}

void tell_peer(const hook_table& table, const caf::actor& gate) {
  for (auto& x : table.own()) caf::anon_send(gate, runtime::peer_atom::value, install_message(x));
}

caf::message on_peer_message(hook_table& table, caf::message& m) {
  if (!m.match_elements<hook_install_atom, hook_install>()) return {};
  return caf::make_message(table.apply(m.get_as<hook_install>(1)));
}

}  // namespace parley::actors
