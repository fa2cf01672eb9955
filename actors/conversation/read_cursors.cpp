#include "conversation/read_cursors.hpp"

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include <unordered_map>
#include <utility>

namespace parley::actors {

struct read_cursors::index {
  using key = std::pair<std::uint64_t, std::string>;  // (cursor, user): unique per user
  using ranked =
      __gnu_pbds::tree<key, __gnu_pbds::null_type, std::less<key>, __gnu_pbds::rb_tree_tag,
                       __gnu_pbds::tree_order_statistics_node_update>;
  std::unordered_map<std::string, std::uint64_t> by_user;
  ranked by_cursor;
};

read_cursors::read_cursors() : index_(std::make_unique<index>()) {}
read_cursors::~read_cursors() = default;
read_cursors::read_cursors(read_cursors&&) noexcept = default;
read_cursors& read_cursors::operator=(read_cursors&&) noexcept = default;

std::uint64_t read_cursors::of(const std::string& user) const {
  auto it = index_->by_user.find(user);
  return it == index_->by_user.end() ? 0 : it->second;
}

void read_cursors::set(const std::string& user, std::uint64_t seq) {
  auto [it, fresh] = index_->by_user.try_emplace(user, seq);
  if (!fresh) {
    index_->by_cursor.erase({it->second, user});
    it->second = seq;
  }
  index_->by_cursor.insert({seq, user});
}

std::size_t read_cursors::at_or_past(std::uint64_t seq) const {
  return index_->by_cursor.size() - index_->by_cursor.order_of_key({seq, std::string()});
}

std::size_t read_cursors::size() const {
  return index_->by_user.size();
}

}  // namespace parley::actors
