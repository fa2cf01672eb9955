#pragma once
// An app's event feed (schema/app.capnp, Events.subscribe) as the actors run it: one actor per
// subscription, on the node the app is connected to, reading every shard's event log after a
// cursor (through the presence actor of each shard, wherever it runs) and handing batches to
// the app port, one at a time.
//
// Rounds: the feed asks every shard for its events after its read position (at most
// per_shard_limit each, all shards at once), queues what comes back in shard order, and hands
// out batches of at most max_batch; the next batch goes out once the app port says the last
// one was delivered. A new round starts when the queue is shorter than a batch; a round that
// found nothing waits idle_poll before the next. Memory: the queue holds at most
// shards x per_shard_limit events.
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
  std::chrono::milliseconds idle_poll{100};
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

/// The readable end of every shard's event log (a cursor for "new events only"); `done` is
/// called from a CAF thread.
void event_heads(services& svc, std::function<void(result<std::vector<std::uint64_t>>)> done);

}  // namespace parley::actors
