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
// Topology: one hook of each kind per cluster. An app installs it through any node's app port;
// that node's bridge actor is the handler, and the install spreads to every other node
// (hook_spread.hpp), so an entity on any node asks the same handler. Installing again, on any
// node, replaces it (the newest install wins everywhere). Sends from the app itself
// (messages.sendAsUser / sendAsSystem) skip the before-send hook: the app is the one that
// would be asked.

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace parley::actors {

struct services;

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

/// Which hook an install sets.
enum class hook_kind : std::uint8_t { before_send = 0, offline_push = 1, bots = 2 };

/// One hook as an app installed (or cleared) it through some node's app port, as it travels to
/// the other nodes. A cluster has one hook of each kind: on every node the install with the
/// greatest (version, origin) wins, whatever order installs arrive in.
struct hook_install {
  std::uint8_t kind = 0;  ///< hook_kind
  /// The installing node's bridge actor; invalid: the hook is cleared.
  caf::actor handler;
  std::uint32_t timeout_ms = 200;  ///< before-send
  bool fail_open = false;          ///< before-send
  std::vector<std::string> bots;   ///< bots: the users registered as bots
  /// Wall-clock milliseconds when installed, or one past the newest install the node had seen
  /// (so an install made after another one seen anywhere orders after it).
  std::uint64_t version = 0;
  std::string origin;  ///< The installing node's id.

  bool newer_than(const hook_install& o) const {
    return version != o.version ? version > o.version : origin > o.origin;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hook_install& x) {
  return f(caf::meta::type_name("parley.hook_install"), x.kind, x.handler, x.timeout_ms,
           x.fail_open, x.bots, x.version, x.origin);
}

/// The hooks in force on a node. Thread-safe; read on every send, written when an app installs
/// or clears a hook here or on another node (hook_spread.hpp carries installs between nodes).
/// A lookup copies a handle under a mutex (no hook at all: one atomic load).
class hook_table {
 public:
  explicit hook_table(std::string node = "local") : node_(std::move(node)) {}

  std::optional<before_send_hook> before_send() const;
  /// The offline-push handler, or an invalid handle.
  caf::actor offline_push() const;
  /// The handler of `user` if it is a bot, else an invalid handle.
  caf::actor bot(const std::string& user) const;
  /// Whether some recipient may need a bot or push handler.
  bool delivers_offline() const;

  /// A new install of `kind` made on this node, ordered after every install seen so far. Fill
  /// in the handler and the kind's fields, then apply() it.
  hook_install stamp(hook_kind kind) const;
  /// Puts `x` in force if it is newer than the install of its kind; false: older, ignored.
  bool apply(hook_install x);
  /// The installs in force that were made on this node (what a node that joins is told).
  std::vector<hook_install> own() const;
  /// Clears the hooks whose handler is `handler` (this node's bridge stopped), keeping their
  /// versions so that an older install arriving late does not come back.
  void remove(const caf::actor_addr& handler);

 private:
  void refresh();  // under mu_

  const std::string node_;
  mutable std::mutex mu_;
  std::atomic<bool> any_{false};
  std::uint64_t newest_ = 0;
  std::vector<hook_install> installs_ = std::vector<hook_install>(3);  // by hook_kind
  std::optional<before_send_hook> before_send_;
  caf::actor push_;
  std::map<std::string, caf::actor> bots_;
};

// -- between nodes --------------------------------------------------------------------------------
//
//   an install here      the app port applies it to this node's table, then spread_hook()
//                        sends it to every other node's gate as (peer_atom, (hook_install_atom,
//                        install)) and reports once each reachable node took it or failed to
//   a node (re)connects  tell_peer() sends it this node's own installs in force
//   from another node    on_peer_message() applies an install (the gate calls it)
// Versions make every order of arrival converge to the same hook on every node.

using hook_install_atom = caf::atom_constant<caf::atom("hinstall")>;

/// Sends `install` (already in force here) to every other node reachable now; `done` gets how
/// many nodes have it in force, this one included, once each has answered or timed out (a node
/// that missed it is told when it reconnects).
void spread_hook(services& svc, hook_install install, std::function<void(std::uint32_t)> done);

/// Tells the node behind `gate` the installs in force that were made on this node.
void tell_peer(const hook_table& table, const caf::actor& gate);

/// Handles a message another node sent to this node's app layer; answers it (an empty message
/// if it is not one of ours).
caf::message on_peer_message(hook_table& table, caf::message& m);

}  // namespace parley::actors
