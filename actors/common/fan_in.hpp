#pragma once
// Counting the answers to several requests made for one request (a conversation list asks
// every conversation, a presence watch every shard, a profile read every user): the last
// answer finishes it, the first failure answers it, later answers are dropped. Continuations
// run in the asking actor, so the counts need no synchronisation.

#include <cstddef>
#include <utility>

namespace parley::actors {

struct fan_in {
  explicit fan_in(std::size_t expected) : waiting(expected) {}
  /// One answer came: true if it was the last (and none failed).
  bool arrived() { return --waiting == 0 && !failed; }
  /// One request failed: true for the first failure only.
  bool fail() { return !std::exchange(failed, true); }

  std::size_t waiting;
  bool failed = false;
};

}  // namespace parley::actors
