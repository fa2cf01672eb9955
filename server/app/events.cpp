// Events (schema/app.capnp): an app's subscriptions to the event feed.
//
// A subscription is an actors::event_feed (one actor reading every shard's event log after the
// cursor) whose batches come to the kj thread through a kj_inbox; there the subscription calls
// the app's listener, one call at a time, and tells the feed when the call returned, which lets
// the next batch go. A failed call (the app went away) ends the subscription, as does cancel()
// or dropping the capability. Cursors are one 8-byte big-endian seq per shard.

#include "capabilities.hpp"
#include "kj_inbox.hpp"
#include "support.hpp"

#include "parley/actors/event_feed.hpp"
#include "parley/schema/framing.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/store.hpp"

#include <atomic>
#include <memory>

namespace parley::server::app_rpc {

namespace {

/// Subscriptions alive in this process; more are refused (each holds a feed actor and up to
/// shards x 100 queued events).
std::atomic<std::uint32_t> live_subscriptions{0};
constexpr std::uint32_t max_subscriptions = 256;

std::string encode_cursor(const std::vector<std::uint64_t>& seqs) {
  std::string out;
  out.reserve(seqs.size() * 8);
  for (auto seq : seqs) out += store::encode_u64(seq);
  return out;
}

struct event_filter {
  bool messages = true, sessions = true, groups = true;

  bool admits(app::Event::Reader e) const {
    switch (e.which()) {
      case app::Event::MESSAGE_STORED:
        return messages;
      case app::Event::SESSION_OPENED:
      case app::Event::SESSION_CLOSED:
        return sessions;
      case app::Event::GROUP_CHANGED:
        return groups;
    }
    return false;
  }
};

class subscription_impl final : public app::Subscription::Server, kj::TaskSet::ErrorHandler {
 public:
  subscription_impl(actors::services& svc, app::EventListener::Client listener, event_filter filter,
                    std::vector<std::uint64_t> cursor, std::uint32_t max_batch)
      : listener_(kj::mv(listener)),
        filter_(filter),
        inbox_(std::make_shared<kj_inbox>()),
        tasks_(*this) {
    ++live_subscriptions;
    tasks_.add(inbox_->serve());
    actors::feed_options opts;
    opts.max_batch = max_batch;
    auto inbox = inbox_;
    feed_ = actors::event_feed::start(
        svc, std::move(cursor), opts, [inbox, self = this](actors::feed_batch b) {
          inbox->post([self, b = std::move(b)]() mutable { self->deliver(std::move(b)); });
        });
  }

  ~subscription_impl() noexcept(false) {
    end();
    --live_subscriptions;
  }

  kj::Promise<void> cancel(CancelContext) override {
    end();
    return kj::READY_NOW;
  }

  void taskFailed(kj::Exception&&) override { end(); }

 private:
  void end() {
    inbox_->close();
    feed_.reset();
  }

  /// On the kj thread: gives `batch` to the app's listener.
  void deliver(actors::feed_batch batch) {
    if (!feed_) return;
    std::vector<std::pair<const actors::feed_event*, schema::frame_words>> kept;
    for (const auto& e : batch.events) {
      auto words = schema::words_from_bytes(e.payload);
      auto reader = schema::read_frame(words, capnp::ReaderOptions());
      if (filter_.admits(reader.getRoot<app::Event>())) kept.emplace_back(&e, std::move(words));
    }
    if (kept.empty()) {  // nothing the app asked for: straight on to the next batch
      feed_->delivered();
      return;
    }
    auto req = listener_.deliverRequest();
    auto list = req.initEvents(static_cast<unsigned>(kept.size()));
    for (unsigned i = 0; i < kept.size(); ++i) {
      auto reader = schema::read_frame(kept[i].second, capnp::ReaderOptions());
      list.setWithCaveats(i, reader.template getRoot<app::Event>());
      list[i].setShard(kept[i].first->shard);
      list[i].setSeq(kept[i].first->seq);
    }
    const std::string cursor = encode_cursor(batch.cursor);
    req.setCursor(data_of(cursor));
    tasks_.add(req.send().then(
        [this](capnp::Response<app::EventListener::DeliverResults>&&) {
          if (feed_) feed_->delivered();
        },
        [this](kj::Exception&&) { end(); }));  // the app is gone: so is its subscription
  }

  app::EventListener::Client listener_;
  const event_filter filter_;
  std::shared_ptr<kj_inbox> inbox_;
  std::unique_ptr<actors::event_feed> feed_;
  kj::TaskSet tasks_;
};

class events_impl final : public app::Events::Server {
 public:
  explicit events_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> subscribe(SubscribeContext context) override {
    auto p = context.getParams();
    const std::uint32_t shards = svc_.db->shard_count();
    const std::string bytes = bytes_of(p.getCursor());
    std::vector<std::uint64_t> cursor(shards, 0);
    if (!bytes.empty()) {
      if (bytes.size() != std::size_t{shards} * 8) {
        return refuse(errc::bad_request, "the cursor is not one of this cluster's");
      }
      for (std::uint32_t i = 0; i < shards; ++i) {
        cursor[i] = store::decode_u64(std::string_view(bytes).substr(i * 8, 8));
      }
    }
    std::uint32_t max_batch = p.getMaxBatch() == 0 ? 100 : p.getMaxBatch();
    if (max_batch > 1000) return refuse(errc::bad_request, "maxBatch is at most 1000");
    if (live_subscriptions.load() >= max_subscriptions) {
      return refuse(errc::limit_exceeded, "too many event subscriptions");
    }
    auto f = p.getFilter();
    event_filter filter{f.getMessages(), f.getSessions(), f.getGroups()};
    context.getResults().setSubscription(
        kj::heap<subscription_impl>(svc_, p.getListener(), filter, std::move(cursor), max_batch));
    return kj::READY_NOW;
  }

  kj::Promise<void> head(HeadContext context) override {
    auto answer = answer_from_caf<std::vector<std::uint64_t>>();
    actors::event_heads(svc_, std::move(answer.callback));
    return answer.promise.then([context](std::vector<std::uint64_t> heads) mutable {
      const std::string cursor = encode_cursor(heads);
      context.getResults().setCursor(data_of(cursor));
    });
  }

 private:
  actors::services& svc_;
};

}  // namespace

kj::Own<app::Events::Server> make_events(actors::services& svc) {
  return kj::heap<events_impl>(svc);
}

}  // namespace parley::server::app_rpc
