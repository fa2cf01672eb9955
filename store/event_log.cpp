// Numbering of each shard's events; see event_log.hpp.

#include "parley/store/event_log.hpp"

namespace parley::store {

std::string event_log_owner(std::uint32_t shard) {
  return "presence/" + std::to_string(shard);
}

result<event_sequencer::shard_state*> event_sequencer::state_of(std::uint32_t shard) {
  auto it = shards_.find(shard);
  if (it != shards_.end()) return &it->second;
  auto last = last_seq_(shard);
  if (!last) return last.error();
  auto& st = shards_[shard];
  st.next = *last + 1;
  return &st;
}

result<std::uint64_t> event_sequencer::take(std::uint32_t shard, std::size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto st = state_of(shard);
  if (!st) return st.error();
  const std::uint64_t first = (*st)->next;
  for (std::size_t i = 0; i < n; ++i) (*st)->taken.insert(first + i);
  (*st)->next += n;
  return first;
}

void event_sequencer::settle(std::uint32_t shard, std::uint64_t first, std::size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = shards_.find(shard);
  if (it == shards_.end()) return;  // forgotten meanwhile (the shard moved)
  for (std::size_t i = 0; i < n; ++i) it->second.taken.erase(first + i);
}

result<std::uint64_t> event_sequencer::readable(std::uint32_t shard) {
  std::lock_guard<std::mutex> lock(mu_);
  auto st = state_of(shard);
  if (!st) return st.error();
  if ((*st)->taken.empty()) return (*st)->next - 1;
  return *(*st)->taken.begin() - 1;
}

void event_sequencer::forget(std::uint32_t shard) {
  std::lock_guard<std::mutex> lock(mu_);
  shards_.erase(shard);
}

}  // namespace parley::store
