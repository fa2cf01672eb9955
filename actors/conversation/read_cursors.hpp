#pragma once
// The read cursors of one conversation's participants, held by its conversation actor so that
// "how many have read seq N" costs O(log n) whatever the group's size: a map user -> cursor,
// and the cursors in an order-statistic tree (libstdc++'s policy-based tree; a rank query is
// one descent). A 100,000-member group's read counts for a page of 100 messages cost 100
// descents, not 100 scans of the members.
//
// Who counts: everyone who ever marked the conversation read, including members who have
// since left a group (they did read it).

#include <cstdint>
#include <memory>
#include <string>

namespace parley::actors {

class read_cursors {
 public:
  read_cursors();
  ~read_cursors();
  read_cursors(read_cursors&&) noexcept;
  read_cursors& operator=(read_cursors&&) noexcept;

  /// `user`'s cursor (0 if it never marked).
  std::uint64_t of(const std::string& user) const;
  /// Sets `user`'s cursor (forward or back: a failed write is undone with it).
  void set(const std::string& user, std::uint64_t seq);
  /// How many users' cursors are at or past `seq`.
  std::size_t at_or_past(std::uint64_t seq) const;
  /// How many users have a cursor.
  std::size_t size() const;

 private:
  struct index;
  std::unique_ptr<index> index_;
};

}  // namespace parley::actors
