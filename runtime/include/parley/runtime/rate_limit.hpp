#pragma once
// Rate limits for what clients send: a token bucket per connection, and a table of buckets per
// user shared by all connections of a node.
//
// A bucket holds up to `burst` tokens and refills at `rate` per second; each request takes one.
// An empty bucket refuses (the client gets a retriable `rateLimited` error): a burst after a
// quiet period passes, a sustained flood is cut to the rate.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::runtime {

/// A rate and the burst allowed above it. rate 0 = unlimited.
struct rate_limit {
  double per_second = 0;  ///< Sustained requests per second; 0 turns the limit off.
  double burst = 0;       ///< Requests allowed at once after a quiet period (>= 1).
};

/// One token bucket. Not thread-safe (one owner, e.g. a connection in its hub).
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  /// Takes one token if there is one. `limit.per_second == 0` always allows.
  bool try_take(const rate_limit& limit, clock::time_point now);

  /// Whether the bucket is full at `now` (nothing to remember about it).
  bool full(const rate_limit& limit, clock::time_point now) const;

 private:
  double tokens_ = -1;  // < 0: never used, i.e. full
  clock::time_point last_{};
};

/// Buckets keyed by user id, shared by a node's connection hubs. Thread-safe (striped locks).
/// Bounded: at most `max_keys` users are remembered; a full stripe forgets its full buckets
/// (users that have been quiet long enough to refill), and if none is full it refuses the new
/// key, which is what a flood of distinct users must get.
class keyed_rate_limiter {
 public:
  keyed_rate_limiter(rate_limit limit, std::size_t max_keys);

  /// Takes one token of `key`'s bucket.
  bool try_take(const std::string& key,
                token_bucket::clock::time_point now = token_bucket::clock::now());

  /// Users remembered now (tests).
  std::size_t size() const;

 private:
  struct stripe {
    mutable std::mutex mu;
    std::unordered_map<std::string, token_bucket> buckets;
  };
  static constexpr std::size_t stripes = 16;

  const rate_limit limit_;
  const std::size_t max_per_stripe_;
  std::vector<stripe> stripes_;
};

}  // namespace parley::runtime
