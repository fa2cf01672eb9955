#include "histogram.hpp"

#include <charconv>
#include <sstream>

namespace parley::bench {

namespace {
constexpr unsigned sub_bits = 5;  // 32 sub-buckets per power of two
constexpr std::uint64_t linear_limit = 1u << (sub_bits + 1);

/// The whole of `text` as a decimal number.
template <typename T>
bool parse_number(const std::string& text, T& out) {
  const char* end = text.data() + text.size();
  auto [at, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && at == end;
}
}  // namespace

std::size_t histogram::index_of(std::uint64_t us) {
  if (us < linear_limit) return static_cast<std::size_t>(us);
  const unsigned e = 63 - static_cast<unsigned>(__builtin_clzll(us));
  const std::uint64_t sub = (us >> (e - sub_bits)) & ((1u << sub_bits) - 1);
  return linear_limit + (e - sub_bits - 1) * (1u << sub_bits) + sub;
}

std::uint64_t histogram::upper_edge(std::size_t index) {
  if (index < linear_limit) return index;
  const std::size_t k = index - linear_limit;
  const unsigned e = static_cast<unsigned>(k >> sub_bits) + sub_bits + 1;
  const std::uint64_t sub = k & ((1u << sub_bits) - 1);
  const std::uint64_t base = (std::uint64_t{1} << sub_bits | sub) + 1;
  const unsigned shift = e - sub_bits;
  if (base > (~std::uint64_t{0} >> shift)) return ~std::uint64_t{0};  // the topmost bucket
  return base << shift;
}

void histogram::record(std::uint64_t us) {
  const std::size_t i = index_of(us);
  if (i >= buckets_.size()) buckets_.resize(i + 1);
  ++buckets_[i];
  ++count_;
  if (us > max_) max_ = us;
}

void histogram::merge(const histogram& other) {
  if (other.buckets_.size() > buckets_.size()) buckets_.resize(other.buckets_.size());
  for (std::size_t i = 0; i < other.buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  if (other.max_ > max_) max_ = other.max_;
}

std::uint64_t histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(upper_edge(i), max_);
  }
  return max_;
}

std::string histogram::serialize() const {
  std::ostringstream out;
  out << "hist " << count_ << " " << max_;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i]) out << " " << i << ":" << buckets_[i];
  }
  return out.str();
}

bool histogram::parse(const std::string& line) {
  histogram h;
  std::istringstream in(line);
  std::string tag;
  if (!(in >> tag >> h.count_ >> h.max_) || tag != "hist") return false;
  const std::size_t max_index = index_of(~std::uint64_t{0});
  std::uint64_t total = 0;
  std::string cell;
  while (in >> cell) {
    const auto colon = cell.find(':');
    std::size_t i = 0;
    std::uint64_t n = 0;
    if (colon == std::string::npos || !parse_number(cell.substr(0, colon), i) ||
        !parse_number(cell.substr(colon + 1), n) || i > max_index) {
      return false;
    }
    if (i >= h.buckets_.size()) h.buckets_.resize(i + 1);
    h.buckets_[i] += n;
    total += n;
  }
  // The counts must add up, and no bucket may lie above the maximum.
  if (total != h.count_ || (!h.buckets_.empty() && index_of(h.max_) + 1 < h.buckets_.size())) {
    return false;
  }
  *this = std::move(h);
  return true;
}

}  // namespace parley::bench
