// Hooks (schema/app.capnp): the app's callbacks, and the bridge that lets entity actors call
// them.
//
// The entity actors know the hooks as CAF handlers in their node's hook_table
// (actors/hooks.hpp). A hook installed through this node's port has one bridge actor as its
// handler, spawned by the hook host when the app port starts, and the install spreads to every
// node (actors::spread_hook), so the entities of every node message this bridge:
//   (check_atom, send_request) -> hook_verdict   asks the before-send hook
//   (notify_atom, push_notice)                   queues an offline-push notice
//   (bot_atom, bot, stored message)              queues a message for a bot
// The bridge posts closures to the kj thread through a kj_inbox (a locked queue plus a
// cross-thread fulfiller that the kj side re-arms: kj's Executor cannot be called from a CAF
// worker). There the host calls the app's capability (the before-send call under a kj timer)
// and sends the outcome back to the bridge, which answers in its own context. The app's
// capabilities never leave the kj thread; the bridge holds none.
//
// Bounds: at most max_pending_checks judgements wait at once (beyond: an immediate failure,
// and the hook's policy applies); notices and bot messages queue at most max_queued each
// (beyond: the oldest are dropped and counted), with one call out per kind, so a slow app
// slows its own deliveries, never the node's memory.

#include "hooks.hpp"
#include "kj_inbox.hpp"
#include "parley/schema/log.hpp"
#include "support.hpp"

#include "parley/actors/hooks.hpp"
#include "parley/actors/messages.hpp"
#include "parley/actors/services.hpp"
#include "parley/schema/framing.hpp"
#include "parley/schema/ids.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace parley::server::app_rpc {

namespace {

using answer_atom = caf::atom_constant<caf::atom("hanswer")>;  // kj -> bridge: a judgement
using sent_atom = caf::atom_constant<caf::atom("hsent")>;      // kj -> bridge: a batch is out

constexpr std::size_t max_pending_checks = 10000;
constexpr std::size_t max_queued = 10000;
constexpr std::uint32_t max_batch_limit = 1000;
constexpr std::size_t max_reason_bytes = 256;

/// What the kj side does for the bridge (hook_host::impl implements it).
struct hook_calls {
  virtual ~hook_calls() noexcept(false) = default;  // kj bases may throw from destructors
  virtual void check(std::uint64_t id, actors::send_request r) = 0;
  virtual void notify(std::vector<actors::push_notice> notices) = 0;
  virtual void deliver_to_bots(std::vector<std::pair<std::string, std::string>> messages) = 0;
};

/// A queue of items for the app, sent in batches with one call out at a time.
template <class T>
struct batch_queue {
  std::deque<T> items;
  bool out = false;
  std::uint64_t dropped = 0;

  void add(T item) {
    if (items.size() >= max_queued) {
      items.pop_front();
      ++dropped;
    }
    items.push_back(std::move(item));
  }
  /// The next batch if none is out.
  std::vector<T> take() {
    std::vector<T> batch;
    if (out) return batch;
    while (!items.empty() && batch.size() < max_batch_limit) {
      batch.push_back(std::move(items.front()));
      items.pop_front();
    }
    out = !batch.empty();
    return batch;
  }
};

struct bridge_state {
  std::shared_ptr<kj_inbox> inbox;
  hook_calls* calls = nullptr;  // dereferenced on the kj thread only
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<actors::hook_verdict>> checks;
  batch_queue<actors::push_notice> notices;
  batch_queue<std::pair<std::string, std::string>> bot_messages;
  static inline const char* name = "parley.hook_bridge";
};

using bridge_actor = caf::stateful_actor<bridge_state>;

void pump_notices(bridge_actor* self) {
  auto& st = self->state;
  auto batch = st.notices.take();
  if (batch.empty()) return;
  auto* calls = st.calls;
  if (!st.inbox->post([calls, b = std::move(batch)]() mutable { calls->notify(std::move(b)); })) {
    st.notices.out = false;
  }
}

void pump_bots(bridge_actor* self) {
  auto& st = self->state;
  auto batch = st.bot_messages.take();
  if (batch.empty()) return;
  auto* calls = st.calls;
  if (!st.inbox->post(
          [calls, b = std::move(batch)]() mutable { calls->deliver_to_bots(std::move(b)); })) {
    st.bot_messages.out = false;
  }
}

caf::behavior hook_bridge(bridge_actor* self, std::shared_ptr<kj_inbox> inbox, hook_calls* calls) {
  self->state.inbox = std::move(inbox);
  self->state.calls = calls;
  return {
      [self](actors::check_atom, actors::send_request& r) -> caf::result<actors::hook_verdict> {
        auto& st = self->state;
        if (st.checks.size() >= max_pending_checks) {
          return make_error(errc::unavailable, "too many messages wait for the app");
        }
        const std::uint64_t id = ++st.next_id;
        auto* kj_side = st.calls;
        if (!st.inbox->post(
                [kj_side, id, r = std::move(r)]() mutable { kj_side->check(id, std::move(r)); })) {
          return make_error(errc::unavailable, "the app port is stopping");
        }
        auto rp = self->make_response_promise<actors::hook_verdict>();
        st.checks.emplace(id, rp);
        return rp;
      },
      [self](answer_atom, std::uint64_t id, bool answered, actors::hook_verdict& v) {
        auto& st = self->state;
        auto it = st.checks.find(id);
        if (it == st.checks.end()) return;
        auto rp = std::move(it->second);
        st.checks.erase(it);
        if (answered) {
          rp.deliver(std::move(v));
        } else {
          rp.deliver(make_error(errc::unavailable, "the app did not judge the message"));
        }
      },
      [self](actors::notify_atom, actors::push_notice& n) {
        self->state.notices.add(std::move(n));
        pump_notices(self);
      },
      [self](actors::bot_atom, std::string& bot, std::string& message) {
        self->state.bot_messages.add({std::move(bot), std::move(message)});
        pump_bots(self);
      },
      [self](sent_atom, bool bots) {
        if (bots) {
          self->state.bot_messages.out = false;
          pump_bots(self);
        } else {
          self->state.notices.out = false;
          pump_notices(self);
        }
      },
  };
}

/// `reason` cut to at most `limit` bytes, not inside a UTF-8 sequence.
std::string bounded_reason(std::string reason, std::size_t limit) {
  if (reason.size() <= limit) return reason;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) --end;
  reason.resize(end);
  return reason;
}

actors::hook_verdict verdict_of(app::Verdict::Reader v) {
  actors::hook_verdict out;
  switch (v.which()) {
    case app::Verdict::ALLOW:
      break;
    case app::Verdict::REJECT:
      out.kind = actors::hook_verdict::reject;
      out.text = bounded_reason(schema::text(v.getReject()), max_reason_bytes);
      break;
    case app::Verdict::REWRITE:
      out.kind = actors::hook_verdict::rewrite;
      out.text = bytes_of(v.getRewrite());
      break;
  }
  return out;
}

}  // namespace

struct hook_host::impl final : hook_calls, kj::TaskSet::ErrorHandler {
  impl(actors::services& s, kj::Timer& t)
      : svc(s), timer(t), inbox(std::make_shared<kj_inbox>()), tasks(*this) {
    bridge = svc.system->spawn(hook_bridge, inbox, static_cast<hook_calls*>(this));
    tasks.add(inbox->serve());
  }

  ~impl() override {
    if (svc.hooks) svc.hooks->remove(bridge.address());
    inbox->close();
    caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);
  }

  void taskFailed(kj::Exception&& e) override {
    log::write_limited(log::level::warn, "app_hook_call_failed",
                       {{"detail", e.getDescription().cStr()}});
  }

  void check(std::uint64_t id, actors::send_request r) override {
    auto answer = [b = bridge, id](bool answered, actors::hook_verdict v) {
      caf::anon_send(b, answer_atom::value, id, answered, std::move(v));
    };
    KJ_IF_MAYBE (hook, before_send) {
      auto req = hook->checkRequest();
      auto m = req.initMessage();
      m.setConversation(r.conversation);
      m.setSender(r.sender);
      m.setSenderDevice(r.device);
      m.setClientMsgId(r.client_msg_id);
      m.setContentType(r.content_type);
      m.setBody(data_of(r.body));
      auto mentions = m.initMentions(static_cast<unsigned>(r.mentions.size()));
      for (unsigned i = 0; i < r.mentions.size(); ++i) mentions.set(i, r.mentions[i]);
      auto judged =
          req.send().then([](capnp::Response<app::BeforeSendHook::CheckResults>&& response) {
            return verdict_of(response.getVerdict());
          });
      tasks.add(timer.timeoutAfter(timeout_ms * kj::MILLISECONDS, kj::mv(judged))
                    .then([answer](actors::hook_verdict v) { answer(true, std::move(v)); },
                          [answer](kj::Exception&&) { answer(false, {}); }));
    } else {
      answer(false, {});  // cleared while the message was on its way
    }
  }

  void notify(std::vector<actors::push_notice> notices) override {
    auto done = [b = bridge] { caf::anon_send(b, sent_atom::value, false); };
    KJ_IF_MAYBE (hook, push) {
      kj::Promise<void> calls = kj::READY_NOW;
      for (std::size_t from = 0; from < notices.size(); from += push_batch) {
        const std::size_t n = std::min<std::size_t>(push_batch, notices.size() - from);
        auto req = hook->notifyRequest();
        auto list = req.initNotices(static_cast<unsigned>(n));
        for (unsigned i = 0; i < n; ++i) {
          const auto& x = notices[from + i];
          auto out = list[i];
          out.setRecipient(x.recipient);
          out.setConversation(x.conversation);
          out.setSeq(x.seq);
          out.setSender(x.sender);
          out.setContentType(x.content_type);
          out.setPreview(data_of(x.preview));
          out.setTimestampMs(x.timestamp_ms);
        }
        calls = calls.then([req = kj::mv(req)]() mutable { return req.send().ignoreResult(); });
      }
      // (kj's then() keeps an lvalue function by reference: give it copies.)
      tasks.add(calls.then([done] { done(); }, [done](kj::Exception&&) { done(); }));
    } else {
      done();
    }
  }

  void deliver_to_bots(std::vector<std::pair<std::string, std::string>> messages) override {
    auto done = [b = bridge] { caf::anon_send(b, sent_atom::value, true); };
    KJ_IF_MAYBE (hook, bots) {
      kj::Promise<void> calls = kj::READY_NOW;
      for (std::size_t from = 0; from < messages.size(); from += bot_batch) {
        const std::size_t n = std::min<std::size_t>(bot_batch, messages.size() - from);
        auto req = hook->receiveRequest();
        auto list = req.initMessages(static_cast<unsigned>(n));
        for (unsigned i = 0; i < n; ++i) {
          const auto& [bot, stored] = messages[from + i];
          list[i].setBot(bot);
          auto words = schema::words_from_bytes(stored);
          auto reader = schema::read_frame(words, capnp::ReaderOptions());
          list[i].setMessage(reader.getRoot<wire::Message>());
        }
        calls = calls.then([req = kj::mv(req)]() mutable { return req.send().ignoreResult(); });
      }
      // (kj's then() keeps an lvalue function by reference: give it copies.)
      tasks.add(calls.then([done] { done(); }, [done](kj::Exception&&) { done(); }));
    } else {
      done();
    }
  }

  actors::services& svc;
  kj::Timer& timer;
  std::shared_ptr<kj_inbox> inbox;
  caf::actor bridge;
  kj::Maybe<app::BeforeSendHook::Client> before_send;
  std::uint32_t timeout_ms = 200;
  kj::Maybe<app::OfflinePushHook::Client> push;
  std::uint32_t push_batch = 100;
  kj::Maybe<app::BotHook::Client> bots;
  std::uint32_t bot_batch = 100;
  kj::TaskSet tasks;
};

namespace {

class hooks_impl final : public app::Hooks::Server {
 public:
  explicit hooks_impl(hook_host::impl& host) : host_(host) {}

  kj::Promise<void> setBeforeSend(SetBeforeSendContext context) override {
    auto p = context.getParams();
    const std::uint32_t timeout = p.getTimeoutMs() == 0 ? 200 : p.getTimeoutMs();
    if (timeout > 10000) return refuse(errc::bad_request, "timeoutMs is at most 10000");
    host_.before_send = p.getHook();
    host_.timeout_ms = timeout;
    auto x = stamp(actors::hook_kind::before_send, true);
    x.timeout_ms = timeout;
    x.fail_open = p.getFailOpen();
    return install(std::move(x), context);
  }

  kj::Promise<void> clearBeforeSend(ClearBeforeSendContext context) override {
    host_.before_send = nullptr;
    return install(stamp(actors::hook_kind::before_send, false), context);
  }

  kj::Promise<void> setOfflinePush(SetOfflinePushContext context) override {
    auto p = context.getParams();
    auto batch = batch_size(p.getMaxBatch());
    if (!batch) return refuse(errc::bad_request, "maxBatch is at most 1000");
    host_.push = p.getHook();
    host_.push_batch = *batch;
    return install(stamp(actors::hook_kind::offline_push, true), context);
  }

  kj::Promise<void> clearOfflinePush(ClearOfflinePushContext context) override {
    host_.push = nullptr;
    return install(stamp(actors::hook_kind::offline_push, false), context);
  }

  kj::Promise<void> setBots(SetBotsContext context) override {
    auto p = context.getParams();
    if (p.getBots().size() > max_batch_limit) {
      return refuse(errc::bad_request, "at most 1000 bots");
    }
    std::vector<std::string> bots;
    for (auto name : p.getBots()) {
      std::string user = schema::text(name);
      if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid bot user id");
      bots.push_back(std::move(user));
    }
    host_.bots = bots.empty() ? kj::Maybe<app::BotHook::Client>(nullptr) : p.getHook();
    auto x = stamp(actors::hook_kind::bots, !bots.empty());
    x.bots = std::move(bots);
    return install(std::move(x), context);
  }

 private:
  static std::optional<std::uint32_t> batch_size(std::uint32_t asked) {
    if (asked == 0) return 100;
    if (asked > max_batch_limit) return std::nullopt;
    return asked;
  }

  /// A new install of `kind` through this node, handled by its bridge (`set`) or clearing.
  actors::hook_install stamp(actors::hook_kind kind, bool set) const {
    auto x = host_.svc.hooks->stamp(kind);
    if (set) x.handler = host_.bridge;
    return x;
  }

  /// Puts `x` in force here, then on every other node; answers how many nodes have it.
  template <class Context>
  kj::Promise<void> install(actors::hook_install x, Context context) {
    host_.svc.hooks->apply(x);
    auto answer = answer_from_caf<std::uint32_t>();
    actors::spread_hook(host_.svc, std::move(x),
                        [done = std::move(answer.callback)](std::uint32_t n) { done(n); });
    return answer.promise.then(
        [context](std::uint32_t nodes) mutable { context.getResults().setNodes(nodes); });
  }

  hook_host::impl& host_;
};

}  // namespace

hook_host::hook_host(actors::services& svc, kj::Timer& timer)
    : impl_(std::make_unique<impl>(svc, timer)) {}

hook_host::~hook_host() = default;

kj::Own<app::Hooks::Server> hook_host::capability() {
  return kj::heap<hooks_impl>(*impl_);
}

}  // namespace parley::server::app_rpc
