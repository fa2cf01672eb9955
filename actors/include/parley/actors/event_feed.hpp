#pragma once
// An app's event feed (schema/app.capnp, Events.subscribe) as the actors run it: one actor per
// subscription, on the node the app is connected to, reading every shard's event log after a
// cursor (through the presence actor of each shard, wherever it runs) and handing batches to
// the app port, one at a time.
//
// Reads: the feed keeps one read out per shard (through the shard's presence actor, wherever
// it runs) for the events after its read position, at most per_shard_limit. The presence
// actor answers at once if there are some, else holds the read until the store's event bell
// says the shard has new ones (wake_event_feeds) or `wait` passes; so an event reaches the app
// as soon as it is durable, and an idle feed costs one empty answer per shard per `wait`. What
// comes back is queued and handed out in batches of at most max_batch, the next once the app
// port says the last one was delivered; while the queue holds a batch, the shards that
// answered are not read again until the app has taken it. Memory: the queue holds at most
// max_batch + shards x per_shard_limit events.
//
// The cursor handed out with each batch is, per shard, the seq of the last event delivered
// (the subscription's starting cursor for shards with none yet), so an app that resumes from
// it gets exactly what followed.

#include "parley/actors/services.hpp"
#include "parley/schema/error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace parley::actors {

/// One event of a shard's log: an app.capnp Event without shard and seq.
struct feed_event {
  std::uint32_t shard = 0;
  std::uint64_t seq = 0;
  std::string payload;
};

/// What the app gets at once, and the cursor just past it (one seq per shard).
struct feed_batch {
  std::vector<feed_event> events;
  std::vector<std::uint64_t> cursor;
};

struct feed_options {
  std::uint32_t max_batch = 100;
  std::uint32_t per_shard_limit = 100;
  /// How long a shard holds a read that found nothing (at most half the remote request
  /// timeout: a read of a remote shard must come back within it).
  std::chrono::milliseconds wait{2000};
  /// After a failed read (the shard moving, its node down), the next one waits this long.
  std::chrono::milliseconds retry_after{100};
};

class event_feed {
 public:
  /// Starts reading after `cursor` (one seq per shard). `deliver` is called from a CAF thread
  /// with each batch; call delivered() when the app has it. Stops when destroyed.
  static std::unique_ptr<event_feed> start(services& svc, std::vector<std::uint64_t> cursor,
                                           feed_options opts,
                                           std::function<void(feed_batch)> deliver);
  ~event_feed();
  event_feed(const event_feed&) = delete;
  event_feed& operator=(const event_feed&) = delete;

  /// The last batch reached the app: the next may go. Thread-safe.
  void delivered();

  struct impl;

 private:
  explicit event_feed(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// The store's event bell (store::on_new_events): new events of `shard` are readable, so its
/// presence actor answers the feed reads it holds. Thread-safe; a no-op if it is not active.
void wake_event_feeds(services& svc, std::uint32_t shard);

/// The readable end of every shard's event log (a cursor for "new events only"); `done` is
/// called from a CAF thread.
void event_heads(services& svc, std::function<void(result<std::vector<std::uint64_t>>)> done);

}  // namespace parley::actors
