#include "common/inspection.hpp"

#include "common/records.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/seq_log.hpp"
#include "parley/store/store.hpp"

#include <algorithm>

namespace parley::actors {

namespace {

result<std::uint64_t> count_records(services& svc, std::uint32_t shard, const std::string& id,
                                    store::record rec) {
  const std::string prefix = store::record_prefix(id, rec);
  return svc.db->count(shard, prefix, store::prefix_end(prefix), max_counted_keys);
}

result<std::uint64_t> last_seq(services& svc, std::uint32_t shard, const std::string& id,
                               store::record rec) {
  return store::seq_log(*svc.db, shard, id, rec).last_seq();
}

}  // namespace

result<std::vector<figure>> stored_figures(services& svc, std::uint32_t shard,
                                           const std::string& entity_id) {
  std::vector<figure> out;
  // Each figure read, or the first failure returned.
  auto add = [&out](const char* name, const result<std::uint64_t>& value) -> error {
    if (!value) return value.error();
    out.push_back({name, *value});
    return {};
  };
  auto kind = runtime::kind_of(entity_id);
  if (!kind) return out;
  switch (*kind) {
    case runtime::entity_kind::user: {
      if (auto e = add("inbox_head", last_seq(svc, shard, entity_id, store::record::inbox))) {
        return e;
      }
      if (auto e = add("conversations",
                       count_records(svc, shard, entity_id, store::record::membership))) {
        return e;
      }
      auto stored = svc.db->get(shard, store::named_key(entity_id, store::record::stored, ""));
      if (!stored) return stored.error();
      out.push_back({"stored_bytes", *stored ? store::decode_u64(**stored) : 0});
      break;
    }
    case runtime::entity_kind::conversation:
      if (auto e = add("last_seq", last_seq(svc, shard, entity_id, store::record::message))) {
        return e;
      }
      if (auto e =
              add("dedupe_entries", count_records(svc, shard, entity_id, store::record::dedupe))) {
        return e;
      }
      break;
    case runtime::entity_kind::group: {
      auto stored = svc.db->get(shard, store::named_key(entity_id, store::record::state, ""));
      if (!stored) return stored.error();
      auto state = *stored ? decode_group(**stored) : std::nullopt;
      out.push_back({"exists", state ? 1u : 0u});
      out.push_back({"members", state ? state->member_count + state->legacy_members.size() : 0u});
      if (auto e = add("barred", count_records(svc, shard, entity_id, store::record::barred))) {
        return e;
      }
      out.push_back({"version", state ? state->version : 0u});
      break;
    }
    case runtime::entity_kind::presence:
      break;
  }
  return out;
}

void merge_figures(std::vector<figure>& live, const std::vector<figure>& stored) {
  for (const auto& f : stored) {
    const bool known =
        std::any_of(live.begin(), live.end(), [&](const figure& l) { return l.name == f.name; });
    if (!known) live.push_back(f);
  }
}

}  // namespace parley::actors
