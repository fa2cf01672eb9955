#include "parley/runtime/rate_limit.hpp"

#include <algorithm>
#include <functional>

namespace parley::runtime {

namespace {

double refilled(double tokens, const rate_limit& limit, token_bucket::clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return std::min(limit.burst, tokens + seconds * limit.per_second);
}

}  // namespace

double token_bucket::balance(const rate_limit& limit, clock::time_point now) const {
  return used_ ? refilled(tokens_, limit, now - last_) : limit.burst;
}

bool token_bucket::try_take(const rate_limit& limit, clock::time_point now) {
  if (limit.per_second <= 0) return true;
  const double tokens = balance(limit, now);
  if (tokens < 1) return false;
  tokens_ = tokens - 1;
  used_ = true;
  last_ = now;
  return true;
}

void token_bucket::charge(const rate_limit& limit, clock::time_point now, double n) {
  if (limit.per_second <= 0) return;
  tokens_ = balance(limit, now) - n;
  used_ = true;
  last_ = now;
}

token_bucket::clock::duration token_bucket::debt(const rate_limit& limit,
                                                 clock::time_point now) const {
  if (limit.per_second <= 0) return clock::duration::zero();
  const double tokens = balance(limit, now);
  if (tokens >= 0) return clock::duration::zero();
  return std::chrono::duration_cast<clock::duration>(
             std::chrono::duration<double>(-tokens / limit.per_second)) +
         clock::duration(1);  // round up: waking a tick early would find it still in debt
}

bool token_bucket::full(const rate_limit& limit, clock::time_point now) const {
  return balance(limit, now) >= limit.burst;
}

keyed_rate_limiter::keyed_rate_limiter(rate_limit limit, std::size_t max_keys)
    : limit_(limit),
      max_per_stripe_(std::max<std::size_t>(1, max_keys / stripes)),
      stripes_(stripes) {}

bool keyed_rate_limiter::try_take(const std::string& key, token_bucket::clock::time_point now) {
  if (limit_.per_second <= 0) return true;
  auto& s = stripes_[std::hash<std::string>{}(key) % stripes];
  std::lock_guard<std::mutex> guard(s.mu);
  auto it = s.buckets.find(key);
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= max_per_stripe_) {
      for (auto b = s.buckets.begin(); b != s.buckets.end();) {
        b = b->second.full(limit_, now) ? s.buckets.erase(b) : std::next(b);
      }
      if (s.buckets.size() >= max_per_stripe_) return false;
    }
    it = s.buckets.emplace(key, token_bucket{}).first;
  }
  return it->second.try_take(limit_, now);
}

std::size_t keyed_rate_limiter::size() const {
  std::size_t n = 0;
  for (auto& s : stripes_) {
    std::lock_guard<std::mutex> guard(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace parley::runtime
