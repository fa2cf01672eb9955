// An app's event feed; see parley/actors/event_feed.hpp.

#include "parley/actors/event_feed.hpp"

#include "common/route.hpp"
#include "presence/presence.hpp"

#include "parley/store/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <deque>
#include <limits>

namespace parley::actors {

namespace {

using delivered_atom = caf::atom_constant<caf::atom("fdone")>;
using retry_atom = caf::atom_constant<caf::atom("fretry")>;

class feed_actor final : public caf::event_based_actor {
 public:
  feed_actor(caf::actor_config& cfg, services* svc, std::vector<std::uint64_t> cursor,
             feed_options opts, std::function<void(feed_batch)> deliver)
      : caf::event_based_actor(cfg),
        svc_(*svc),
        opts_(opts),
        // A remote read must come back within the remote request timeout.
        wait_ms_(static_cast<std::uint32_t>(
            std::min(opts.wait, svc->options.remote_request_timeout / 2).count())),
        deliver_(std::move(deliver)),
        read_(cursor),
        delivered_(std::move(cursor)),
        paused_(read_.size(), false) {}

  caf::behavior make_behavior() override {
    for (std::uint32_t shard = 0; shard < read_.size(); ++shard) read(shard);
    return {
        [this](delivered_atom) {
          out_ = false;
          hand_out();
          resume_paused();
        },
        [this](retry_atom, std::uint32_t shard) { read(shard); },
    };
  }

 private:
  /// Asks `shard` for what follows its read position; its presence actor answers at once if
  /// there is something, else when something is written (or, empty, after wait_ms_).
  void read(std::uint32_t shard) {
    ask(
        this, svc_, presence::of_shard(shard),
        [this, shard](event_slice& slice) {
          if (slice.through > read_[shard]) read_[shard] = slice.through;
          for (std::size_t i = 0; i < slice.seqs.size(); ++i) {
            queue_.push_back({shard, slice.seqs[i], std::move(slice.payloads[i])});
          }
          hand_out();
          if (queue_.size() < opts_.max_batch)
            read(shard);
          else
            paused_[shard] = true;  // read again once the app has taken a batch
        },
        [this, shard](caf::error&) {
          // The shard is moving or its node is down: try again a little later.
          delayed_send(this, opts_.retry_after, retry_atom::value, shard);
        },
        events_atom::value, read_[shard], opts_.per_shard_limit, wait_ms_);
  }

  void resume_paused() {
    if (queue_.size() >= opts_.max_batch) return;
    for (std::uint32_t shard = 0; shard < paused_.size(); ++shard) {
      if (!paused_[shard]) continue;
      paused_[shard] = false;
      read(shard);
    }
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
  const std::uint32_t wait_ms_;
  std::function<void(feed_batch)> deliver_;
  std::vector<std::uint64_t> read_;       ///< Per shard: read through this seq.
  std::vector<std::uint64_t> delivered_;  ///< Per shard: handed out through this seq.
  std::vector<bool> paused_;              ///< Per shard: not read while the queue is full.
  std::deque<feed_event> queue_;
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

void wake_event_feeds(services& svc, std::uint32_t shard) {
  tell_if_active(svc, presence::of_shard(shard), feedwake_atom::value);
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
              events_atom::value, std::numeric_limits<std::uint64_t>::max(), std::uint32_t{0},
              std::uint32_t{0});
        }
      },
      &svc);
}

}  // namespace parley::actors
