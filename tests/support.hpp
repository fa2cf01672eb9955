#pragma once
// Assertions shared by the suites that talk to nodes through the client library (Boost.Test).

#include "parley/client/client.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace parley::test_support {

/// Fails the test case (and stops it) unless `r` succeeded; says why.
inline void require_ok(const client::response& r) {
  BOOST_TEST_REQUIRE(r.ok(), client::to_string(r.code) << ": " << r.error);
}

}  // namespace parley::test_support
