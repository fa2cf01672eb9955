// The load generator's latency histogram: every percentile in docs/benchmarks.md comes out of
// it, merged across load processes through its one-line text form.

#define BOOST_TEST_MODULE histogram
#include <boost/test/unit_test.hpp>

#include "histogram.hpp"

#include <cstdint>
#include <string>

using parley::bench::histogram;

namespace {

/// The value quantile() reports for a histogram holding `us` alone, below a larger maximum
/// (so that the cap at max() does not hide the bucket's edge).
std::uint64_t reported(std::uint64_t us) {
  histogram h;
  h.record(us);
  h.record(~std::uint64_t{0} >> 2);
  return h.quantile(0.0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(histogram_values)

BOOST_AUTO_TEST_CASE(small_values_are_exact) {
  for (std::uint64_t us = 0; us < 64; ++us) BOOST_TEST(reported(us) == us);
}

BOOST_AUTO_TEST_CASE(larger_values_are_reported_at_most_one_thirty_second_high) {
  for (std::uint64_t us = 64; us < (std::uint64_t{1} << 40); us += us / 7 + 1) {
    const std::uint64_t r = reported(us);
    BOOST_TEST_INFO("value " << us << " reported as " << r);
    BOOST_TEST(r >= us);
    BOOST_TEST((r - us) * 32 <= us);
  }
}

BOOST_AUTO_TEST_CASE(quantiles_pick_the_ranked_value_and_never_exceed_the_maximum) {
  histogram h;
  for (std::uint64_t us = 1; us <= 100; ++us) h.record(us * 1000);
  BOOST_TEST(h.count() == 100u);
  BOOST_TEST(h.max() == 100000u);
  const std::uint64_t p50 = h.quantile(0.5), p99 = h.quantile(0.99);
  BOOST_TEST(p50 >= 50000u);
  BOOST_TEST(p50 <= 51000u);  // 50 ms, within its bucket
  BOOST_TEST(p99 >= 99000u);
  BOOST_TEST(h.quantile(1.0) == 100000u);
  BOOST_TEST(histogram().quantile(0.5) == 0u);
}

BOOST_AUTO_TEST_CASE(the_topmost_bucket_reports_the_maximum) {
  histogram h;
  h.record(~std::uint64_t{0});
  BOOST_TEST(h.quantile(0.5) == ~std::uint64_t{0});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(histogram_merge)

BOOST_AUTO_TEST_CASE(merging_two_halves_equals_recording_everything_in_one) {
  histogram a, b, all;
  for (std::uint64_t us = 1; us < 20000; us += 3) {
    (us % 2 ? a : b).record(us);
    all.record(us);
  }
  b.record(5000000);
  all.record(5000000);
  a.merge(b);
  BOOST_TEST(a.serialize() == all.serialize());
  BOOST_TEST(a.quantile(0.999) == all.quantile(0.999));
  BOOST_TEST(a.max() == 5000000u);
}

BOOST_AUTO_TEST_CASE(the_text_form_round_trips) {
  histogram h;
  for (std::uint64_t us : {0u, 7u, 64u, 65u, 1000u, 123456u}) h.record(us);
  histogram back;
  BOOST_TEST(back.parse(h.serialize()));
  BOOST_TEST(back.serialize() == h.serialize());
  BOOST_TEST(back.count() == 6u);
  BOOST_TEST(back.max() == 123456u);
  histogram empty;
  BOOST_TEST(back.parse(empty.serialize()));
  BOOST_TEST(back.count() == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_text_is_refused_and_leaves_the_histogram_unchanged) {
  histogram h;
  h.record(42);
  const std::string before = h.serialize();
  for (const std::string bad : {
           "", "hist", "hist 1", "gram 1 42 42:1", "hist 1 42 42", "hist 1 42 x:1",
           "hist 1 42 42:y", "hist 1 42 42:1z", "hist 2 42 42:1",  // counts do not add up
           "hist 1 42 900:1",                                      // a bucket above the maximum
           "hist 1 42 99999999999999999999999:1",                  // not a bucket index at all
       }) {
    BOOST_TEST_INFO("input \"" << bad << "\"");
    BOOST_TEST(!h.parse(bad));
    BOOST_TEST(h.serialize() == before);
  }
}

BOOST_AUTO_TEST_SUITE_END()
