#pragma once
// The hooks an app installs (schema/app.capnp, Hooks), as the entity actors see them: CAF actors
// that answer for the app. Where they run and how they reach the app is the app port's business
// (server/app/hooks.cpp bridges them to the app's capabilities on the kj thread); the entities
// only look them up in their node's hook_table and message them.
//
//   before-send   request (check_atom, send_request) -> hook_verdict, from the conversation
//                 actor before it takes a seq; answered within the hook's timeout or the
//                 conversation applies the policy (fail open: store; fail closed: reject).
//   offline push  (notify_atom, push_notice), from the presence actor of the recipient's shard
//                 for each recipient with no online session; the bridge batches them.
//   bots          (bot_atom, bot user, stored message), from the conversation actor, for each
//                 recipient registered as a bot (its messages go to the app, not to a socket).
//
// Topology: one hook of each kind per node, installed through that node's app port; installing
// again replaces it. Sends from the app itself (messages.sendAsUser / sendAsSystem) skip the
// before-send hook: the app is the one that would be asked.

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace parley::actors {

using check_atom = caf::atom_constant<caf::atom("hcheck")>;    ///< before-send: judge a message
using notify_atom = caf::atom_constant<caf::atom("hnotify")>;  ///< offline push: one notice
using bot_atom = caf::atom_constant<caf::atom("hbot")>;        ///< bots: a message for a bot

/// What a before-send hook decided.
struct hook_verdict {
  enum kind_t : std::uint8_t { allow = 0, reject = 1, rewrite = 2 };
  std::uint8_t kind = allow;
  std::string text;  ///< reject: the reason the sender is told; rewrite: the body to store.
};

/// A message stored for a recipient with no online session.
struct push_notice {
  std::string recipient;
  std::string conversation;  ///< "dm/<a>/<b>" or "group/<g>".
  std::uint64_t seq = 0;
  std::string sender;  ///< "" for a system message.
  std::uint32_t content_type = 0;
  std::string preview;  ///< The body's first bytes (at most push_preview_bytes).
  std::uint64_t timestamp_ms = 0;
};

/// Most body bytes a push notice carries.
constexpr std::size_t push_preview_bytes = 256;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hook_verdict& x) {
  return f(caf::meta::type_name("parley.hook_verdict"), x.kind, x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, push_notice& x) {
  return f(caf::meta::type_name("parley.push_notice"), x.recipient, x.conversation, x.seq, x.sender,
           x.content_type, x.preview, x.timestamp_ms);
}

/// An installed before-send hook.
struct before_send_hook {
  caf::actor handler;
  std::chrono::milliseconds timeout{200};
  bool fail_open = false;  ///< On timeout or a vanished app: store (true) or reject (false).
};

/// The hooks installed on a node. Thread-safe; read on every send, written when an app
/// installs or removes a hook. A lookup copies a handle under a mutex (no hook: one branch).
class hook_table {
 public:
  std::optional<before_send_hook> before_send() const {
    if (!any_.load(std::memory_order_acquire)) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    return before_send_;
  }
  /// The offline-push handler, or an invalid handle.
  caf::actor offline_push() const {
    if (!any_.load(std::memory_order_acquire)) return {};
    std::lock_guard<std::mutex> lock(mu_);
    return push_;
  }
  /// The handler of `user` if it is a bot, else an invalid handle.
  caf::actor bot(const std::string& user) const {
    if (!any_.load(std::memory_order_acquire)) return {};
    std::lock_guard<std::mutex> lock(mu_);
    auto it = bots_.find(user);
    return it == bots_.end() ? caf::actor{} : it->second;
  }
  /// Whether some recipient may need a bot or push handler (cheap, no lock).
  bool delivers_offline() const {
    if (!any_.load(std::memory_order_acquire)) return false;
    std::lock_guard<std::mutex> lock(mu_);
    return push_ || !bots_.empty();
  }

  void set_before_send(std::optional<before_send_hook> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    before_send_ = std::move(hook);
    refresh();
  }
  void set_offline_push(caf::actor handler) {
    std::lock_guard<std::mutex> lock(mu_);
    push_ = std::move(handler);
    refresh();
  }
  /// Replaces every bot by `bots` (user -> handler).
  void set_bots(std::map<std::string, caf::actor> bots) {
    std::lock_guard<std::mutex> lock(mu_);
    bots_ = std::move(bots);
    refresh();
  }
  /// Removes `handler` wherever it is installed (its app went away for good).
  void remove(const caf::actor_addr& handler) {
    std::lock_guard<std::mutex> lock(mu_);
    if (before_send_ && before_send_->handler.address() == handler) before_send_.reset();
    if (push_ && push_.address() == handler) push_ = {};
    for (auto it = bots_.begin(); it != bots_.end();) {
      it = it->second.address() == handler ? bots_.erase(it) : std::next(it);
    }
    refresh();
  }

 private:
  void refresh() { any_.store(before_send_ || push_ || !bots_.empty(), std::memory_order_release); }

  mutable std::mutex mu_;
  std::atomic<bool> any_{false};
  std::optional<before_send_hook> before_send_;
  caf::actor push_;
  std::map<std::string, caf::actor> bots_;
};

}  // namespace parley::actors
