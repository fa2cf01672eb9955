#pragma once
// Stored messages written straight into a stopped node's store, as the conversation actor
// stores them, for the benchmarks that need a large store (restart_time, drain_time).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::bench {

/// Messages per seeded conversation (a dm between s<i> and t<i>).
constexpr std::uint64_t seeded_per_conversation = 1000;

/// The client-facing id of seeded conversation `i`.
std::string seeded_conversation(std::uint64_t i);

/// Writes `messages` messages of 100 bytes into the store of the stopped node whose data dir
/// is `data_dir`, `seeded_per_conversation` per conversation, only in conversations of
/// `shard` if given. Returns the conversations used, in order. Throws std::runtime_error.
std::vector<std::string> seed_messages(const std::string& data_dir, std::uint64_t messages,
                                       std::optional<std::uint32_t> shard = std::nullopt);

}  // namespace parley::bench
