#include "parley/store/seq_log.hpp"

namespace parley::store {

seq_log::seq_log(const store& db, std::uint32_t shard, std::string entity_id, record rec)
    : db_(&db), shard_(shard), entity_id_(std::move(entity_id)), rec_(rec) {}

void seq_log::append(write_batch& batch, std::uint64_t seq, std::string value) const {
  batch.put(shard_, seq_key(entity_id_, rec_, seq), std::move(value));
}

void seq_log::rewrite(write_batch& batch, std::uint64_t seq, std::string value) const {
  batch.put(shard_, seq_key(entity_id_, rec_, seq), std::move(value));
}

result<log_page> seq_log::read(std::string begin, std::string end, std::size_t limit,
                               direction dir) const {
  // Read one extra entry to learn whether more exist.
  auto entries = db_->scan(shard_, begin, end, limit + 1, dir);
  if (!entries) return entries.error();
  log_page page;
  page.has_more = entries->size() > limit;
  if (page.has_more) entries->pop_back();
  page.entries.reserve(entries->size());
  for (auto& e : *entries) page.entries.push_back({seq_of_key(e.key), std::move(e.value)});
  return page;
}

result<log_page> seq_log::read_after(std::uint64_t after, std::size_t limit) const {
  if (after == UINT64_MAX) return log_page{};
  return read(seq_key(entity_id_, rec_, after + 1), prefix_end(record_prefix(entity_id_, rec_)),
              limit, direction::forward);
}

result<log_page> seq_log::read_before(std::uint64_t before, std::size_t limit,
                                      std::uint64_t after) const {
  if (before != 0 && before <= after + 1) return log_page{};
  std::string end =
      before == 0 ? prefix_end(record_prefix(entity_id_, rec_)) : seq_key(entity_id_, rec_, before);
  std::string begin =
      after == 0 ? record_prefix(entity_id_, rec_) : seq_key(entity_id_, rec_, after + 1);
  return read(std::move(begin), std::move(end), limit, direction::backward);
}

result<std::uint64_t> seq_log::last_seq() const {
  auto page = read_before(0, 1);
  if (!page) return page.error();
  return page->entries.empty() ? std::uint64_t{0} : page->entries.front().seq;
}

result<std::optional<std::string>> seq_log::at(std::uint64_t seq) const {
  return db_->get(shard_, seq_key(entity_id_, rec_, seq));
}

}  // namespace parley::store
