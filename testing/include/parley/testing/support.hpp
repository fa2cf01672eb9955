#pragma once
// What every test needs and no test should write again: a temporary directory removed with
// everything in it, and waiting for a condition with a deadline. Its own small library
// (parley::test_support, no server): unit suites link it without the harness.

#include <chrono>
#include <functional>
#include <string>

namespace parley::testing {

/// A fresh directory under the system temp dir, removed with everything in it on destruction.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "parley-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Polls `done` until it holds or `timeout` passes; returns its last value. For waiting on
/// an event with a deadline (never a fixed sleep).
bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace parley::testing
