#pragma once
// A log-bucketed latency histogram (about 3% relative precision, any range), mergeable across
// processes through a one-line text form.

#include <cstdint>
#include <string>
#include <vector>

namespace parley::bench {

class histogram {
 public:
  /// Records one value (microseconds).
  void record(std::uint64_t us);
  /// Adds all of `other`'s counts.
  void merge(const histogram& other);
  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  /// The value at quantile q (0..1): the upper edge of its bucket, capped at max().
  std::uint64_t quantile(double q) const;
  /// "hist <count> <max> <index>:<n> ..." on one line.
  std::string serialize() const;
  /// Parses serialize()'s form; false (and this histogram unchanged) if malformed: not
  /// numbers, counts that do not add up, a bucket above the maximum.
  bool parse(const std::string& line);

 private:
  static std::size_t index_of(std::uint64_t us);
  static std::uint64_t upper_edge(std::size_t index);
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace parley::bench
