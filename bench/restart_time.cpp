// bench/restart_time: issue 15's scale row "a node restarted with N stored messages accepts
// logins in < 1 s". Writes N messages (in conversations of 1,000 messages between users
// s<i> and t<i>) straight into a stopped node's store, as the conversation actor stores them,
// flushed to SST files; then starts the node and reports the time from start until the first
// login is accepted, and until the newest page of one conversation has been read back whole.
//
//   build/bench/restart_time --messages 10000000

#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/schema/framing.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/store.hpp"
#include "parley/testing/embedded_node.hpp"

#include "client.capnp.h"

#include <capnp/message.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

using namespace parley;

namespace {

constexpr std::uint64_t per_conversation = 1000;

std::string conversation_of(std::uint64_t c) {
  return runtime::dm_conversation("s" + std::to_string(c), "t" + std::to_string(c));
}

/// Writes `messages` messages into the stopped node's store at `data_dir`.
void seed(const std::string& data_dir, std::uint64_t messages) {
  store::options so;
  so.dir = data_dir + "/db";
  so.shard_count = 0;
  auto db = store::store::open(so);
  if (!db) throw std::runtime_error("cannot open the store: " + db.error().describe());
  const std::string body(100, 'x');
  store::write_batch batch;
  for (std::uint64_t i = 0; i < messages; ++i) {
    const std::uint64_t c = i / per_conversation, seq = i % per_conversation + 1;
    const std::string conversation = conversation_of(c);
    const std::string entity = runtime::conversation_entity(conversation);
    schema::message_builder message;
    auto m = message.initRoot<wire::Message>();
    m.setConversation(conversation);
    m.setSeq(seq);
    m.setSender("s" + std::to_string(c));
    m.setSenderDevice("d");
    m.setClientMsgId(std::to_string(seq));
    m.setTimestampMs(1'700'000'000'000 + i);
    m.setBody(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(body.data()), body.size()));
    m.setNumber(seq);
    const auto shard = runtime::shard_of(entity, (*db)->shard_count());
    batch.put(shard, store::seq_key(entity, store::record::message, seq),
              schema::encode_bytes(message));
    if (batch.size() >= 10000) {
      if (!(*db)->write(batch, store::durability::buffered).ok()) throw std::runtime_error("write");
      batch = store::write_batch();
    }
  }
  if (!(*db)->write(batch, store::durability::synced).ok()) throw std::runtime_error("write");
}  // closing the store flushes the memtables: the restart reads SST files, not a long WAL

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Restart time of a node holding many messages"};
  std::uint64_t messages = 10'000'000;
  app.add_option("--messages", messages, "messages to store before the restart");
  CLI11_PARSE(app, argc, argv);
  using clock = std::chrono::steady_clock;
  const auto ms = [](clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  testing::embedded_node node;
  node.stop();
  const auto seed_start = clock::now();
  seed(node.data_dir(), messages);
  const double seed_ms = ms(clock::now() - seed_start);

  const auto t0 = clock::now();
  node.start();
  const double started_ms = ms(clock::now() - t0);
  auto reader = node.login("s0");
  const double login_ms = ms(clock::now() - t0);
  const std::uint64_t newest = std::min(messages, per_conversation);
  const auto page = reader->pull(conversation_of(0), newest > 10 ? newest - 10 : 0, 10);
  const double read_ms = ms(clock::now() - t0);
  const bool whole = page.code == client::ErrorCode::OK &&
                     page.messages.size() == std::min<std::uint64_t>(newest, 10) &&
                     !page.messages.empty() && page.messages.back().seq == newest;
  std::printf(
      "{\"messages\":%llu,\"seed_s\":%.1f,\"start_ms\":%.1f,\"first_login_ms\":%.1f,"
      "\"first_page_ms\":%.1f,\"page_whole\":%s}\n",
      static_cast<unsigned long long>(messages), seed_ms / 1000, started_ms, login_ms, read_ms,
      whole ? "true" : "false");
  return whole ? 0 : 1;
}
