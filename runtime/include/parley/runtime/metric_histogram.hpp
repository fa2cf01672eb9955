#pragma once
// A histogram for /metrics: fixed bucket bounds, one relaxed atomic per bucket, so any thread
// observes without a lock (the committer thread, CAF workers) and a scrape reads a snapshot
// that may be a few observations behind, as Prometheus expects of a histogram.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace parley::runtime {

template <std::size_t Buckets>
class metric_histogram {
 public:
  /// `bounds`: the buckets' upper bounds (inclusive), increasing; one more bucket (+Inf)
  /// follows them.
  explicit metric_histogram(const std::array<std::uint64_t, Buckets>& bounds) : bounds_(bounds) {}

  void observe(std::uint64_t value) {
    std::size_t i = 0;
    while (i < Buckets && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  struct snapshot {
    std::array<std::uint64_t, Buckets> bounds{};
    std::array<std::uint64_t, Buckets + 1> cumulative{};  ///< observations <= each bound; last: all
    std::uint64_t sum = 0;
  };

  snapshot read() const {
    snapshot s;
    s.bounds = bounds_;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= Buckets; ++i) {
      running += counts_[i].load(std::memory_order_relaxed);
      s.cumulative[i] = running;
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::uint64_t, Buckets> bounds_;
  std::array<std::atomic<std::uint64_t>, Buckets + 1> counts_{};
  std::atomic<std::uint64_t> sum_{0};
};

/// Latencies in microseconds, 100 µs to 10 s.
class latency_histogram : public metric_histogram<14> {
 public:
  latency_histogram()
      : metric_histogram({100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000,
                          250'000, 500'000, 1'000'000, 10'000'000}) {}
};

/// Counts of things per event (batches per group commit), 1 to 1024 in powers of two.
class count_histogram : public metric_histogram<11> {
 public:
  count_histogram() : metric_histogram({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}) {}
};

}  // namespace parley::runtime
