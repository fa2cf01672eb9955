#include "seed.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/shard_map.hpp"
#include "parley/schema/framing.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/store.hpp"

#include "client.capnp.h"

#include <capnp/message.h>

#include <stdexcept>

namespace parley::bench {

std::string seeded_conversation(std::uint64_t i) {
  return runtime::dm_conversation("s" + std::to_string(i), "t" + std::to_string(i));
}

std::vector<std::string> seed_messages(const std::string& data_dir, std::uint64_t messages,
                                       std::optional<std::uint32_t> shard) {
  store::options so;
  so.dir = data_dir + "/db";
  so.shard_count = 0;  // as recorded
  auto db = store::store::open(so);
  if (!db) throw std::runtime_error("cannot open the store: " + db.error().describe());
  const std::string body(100, 'x');
  std::vector<std::string> used;
  store::write_batch batch;
  std::uint64_t written = 0;
  for (std::uint64_t c = 0; written < messages; ++c) {
    const std::string conversation = seeded_conversation(c);
    const std::string entity = runtime::conversation_entity(conversation);
    const auto its_shard = runtime::shard_of(entity, (*db)->shard_count());
    if (shard && its_shard != *shard) continue;
    used.push_back(conversation);
    for (std::uint64_t seq = 1; seq <= seeded_per_conversation && written < messages; ++seq) {
      schema::message_builder message;
      auto m = message.initRoot<wire::Message>();
      m.setConversation(conversation);
      m.setSeq(seq);
      m.setSender("s" + std::to_string(c));
      m.setSenderDevice("d");
      m.setClientMsgId(std::to_string(seq));
      m.setTimestampMs(1'700'000'000'000 + written);
      m.setBody(
          capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(body.data()), body.size()));
      m.setNumber(seq);
      batch.put(its_shard, store::seq_key(entity, store::record::message, seq),
                schema::encode_bytes(message));
      ++written;
      if (batch.size() >= 10000) {
        if (auto err = (*db)->write(batch, store::durability::buffered)) {
          throw std::runtime_error("write: " + err.describe());
        }
        batch = store::write_batch();
      }
    }
  }
  if (auto err = (*db)->write(batch, store::durability::synced)) {
    throw std::runtime_error("write: " + err.describe());
  }
  return used;  // closing the store flushes it
}

}  // namespace parley::bench
