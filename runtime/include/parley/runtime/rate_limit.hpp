#pragma once
// Rate limits for what clients send: token buckets per connection (requests and bytes), and a
// table of buckets per user shared by all connections of a node.
//
// A bucket holds up to `burst` tokens and refills at `rate` per second. A connection's buckets
// are charged for each frame read and may go into debt; its socket is then not read until the
// refill pays the debt back (the gateway throttles: TCP flow control slows the client and the
// node spends nothing on frames over the rate). A user's bucket refuses instead (the request
// gets a retriable `rateLimited` error), since the user's connections may be on many sockets.

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

  /// Takes `n` tokens whatever the balance, which may go negative (a debt).
  void charge(const rate_limit& limit, clock::time_point now, double n);

  /// How long until the balance is back to zero (zero if it is not in debt).
  clock::duration debt(const rate_limit& limit, clock::time_point now) const;

  /// Whether the bucket is full at `now` (nothing to remember about it).
  bool full(const rate_limit& limit, clock::time_point now) const;

 private:
  /// The balance at `now` (a bucket never used is full).
  double balance(const rate_limit& limit, clock::time_point now) const;

  double tokens_ = 0;
  bool used_ = false;
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
