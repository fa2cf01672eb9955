// An app's event feed; see parley/actors/event_feed.hpp.

#include "parley/actors/event_feed.hpp"

#include "common/route.hpp"
#include "presence/presence.hpp"

#include "parley/store/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <deque>
#include <limits>

namespace parley::actors {

namespace {

using delivered_atom = caf::atom_constant<caf::atom("fdone")>;
using poll_atom = caf::atom_constant<caf::atom("fpoll")>;

class feed_actor final : public caf::event_based_actor {
 public:
  feed_actor(caf::actor_config& cfg, services* svc, std::vector<std::uint64_t> cursor,
             feed_options opts, std::function<void(feed_batch)> deliver)
      : caf::event_based_actor(cfg),
        svc_(*svc),
        opts_(opts),
        deliver_(std::move(deliver)),
        read_(cursor),
        delivered_(std::move(cursor)) {}

  caf::behavior make_behavior() override {
    poll();
    return {
        [this](delivered_atom) {
          out_ = false;
          hand_out();
          next_round();
        },
        [this](poll_atom) {
          waiting_ = false;
          poll();
        },
    };
  }

 private:
  /// Asks every shard for what follows its read position.
  void poll() {
    const auto shards = static_cast<std::uint32_t>(read_.size());
    polls_out_ = shards;
    found_ = false;
    for (std::uint32_t shard = 0; shard < shards; ++shard) {
      ask(
          this, svc_, presence::of_shard(shard),
          [this, shard](event_slice& slice) {
            if (slice.through > read_[shard]) read_[shard] = slice.through;
            for (std::size_t i = 0; i < slice.seqs.size(); ++i) {
              queue_.push_back({shard, slice.seqs[i], std::move(slice.payloads[i])});
            }
            found_ = found_ || !slice.seqs.empty();
            round_answered();
          },
          [this](caf::error&) { round_answered(); },  // that shard is tried again next round
          events_atom::value, read_[shard], opts_.per_shard_limit);
    }
  }

  void round_answered() {
    if (--polls_out_ > 0) return;
    hand_out();
    next_round();
  }

  /// Starts the next round unless one runs, a wait runs, or the queue holds a batch already
  /// (then the app's next delivered() comes back here). A round that found nothing waits.
  void next_round() {
    if (polls_out_ > 0 || waiting_ || queue_.size() >= opts_.max_batch) return;
    if (!found_) {
      waiting_ = true;
      delayed_send(this, opts_.idle_poll, poll_atom::value);
      return;
    }
    poll();
  }

  /// Gives the app the next batch if none is out.
  void hand_out() {
    if (out_ || queue_.empty()) return;
    feed_batch batch;
    while (!queue_.empty() && batch.events.size() < opts_.max_batch) {
      auto& e = queue_.front();
      delivered_[e.shard] = e.seq;
      batch.events.push_back(std::move(e));
      queue_.pop_front();
    }
    batch.cursor = delivered_;
    out_ = true;
    deliver_(std::move(batch));
  }

  services& svc_;
  const feed_options opts_;
  std::function<void(feed_batch)> deliver_;
  std::vector<std::uint64_t> read_;       ///< Per shard: read through this seq.
  std::vector<std::uint64_t> delivered_;  ///< Per shard: handed out through this seq.
  std::deque<feed_event> queue_;
  std::uint32_t polls_out_ = 0;
  bool found_ = false;
  bool waiting_ = false;
  bool out_ = false;
};

}  // namespace

struct event_feed::impl {
  caf::actor actor;
};

std::unique_ptr<event_feed> event_feed::start(services& svc, std::vector<std::uint64_t> cursor,
                                              feed_options opts,
                                              std::function<void(feed_batch)> deliver) {
  auto p = std::make_unique<impl>();
  p->actor = svc.system->spawn<feed_actor>(&svc, std::move(cursor), opts, std::move(deliver));
  return std::unique_ptr<event_feed>(new event_feed(std::move(p)));
}

event_feed::event_feed(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

event_feed::~event_feed() {
  caf::anon_send_exit(impl_->actor, caf::exit_reason::user_shutdown);
}

void event_feed::delivered() {
  caf::anon_send(impl_->actor, delivered_atom::value);
}

void event_heads(services& svc, std::function<void(result<std::vector<std::uint64_t>>)> done) {
  const std::uint32_t shards = svc.db->shard_count();
  svc.system->spawn(
      [shards, done = std::move(done)](caf::event_based_actor* self, services* s) {
        struct progress {
          std::vector<std::uint64_t> heads;
          std::uint32_t left;
          bool failed = false;
        };
        auto p = std::make_shared<progress>(progress{std::vector<std::uint64_t>(shards), shards});
        for (std::uint32_t shard = 0; shard < shards; ++shard) {
          ask(
              self, *s, presence::of_shard(shard),
              [self, p, shard, done](event_slice& slice) {
                p->heads[shard] = slice.through;
                if (--p->left == 0 && !p->failed) {
                  done(std::move(p->heads));
                  self->quit();
                }
              },
              [self, p, done](caf::error& err) {
                if (p->failed) return;
                p->failed = true;
                done(from_caf(err));
                self->quit();
              },
              events_atom::value, std::numeric_limits<std::uint64_t>::max(), std::uint32_t{0});
        }
      },
      &svc);
}

}  // namespace parley::actors
