#pragma once
// Assertions shared by the suites that talk to nodes through the client library (Boost.Test).

#include "parley/client/client.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace parley::test_support {

/// Runs `command_line` in a shell; returns its exit code (-1 if it did not exit normally) and
/// what it printed on both streams.
inline std::pair<int, std::string> run_command(const std::string& command_line) {
  const std::string command = command_line + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  BOOST_TEST_REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// Fails the test case (and stops it) unless `r` succeeded; says why.
/// Wall-clock time now, in milliseconds since the Unix epoch (mutes, bans: the server's clock).
inline std::uint64_t unix_ms_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

inline void require_ok(const client::response& r) {
  BOOST_TEST_REQUIRE(r.ok(), client::to_string(r.code) << ": " << r.error);
}

}  // namespace parley::test_support
