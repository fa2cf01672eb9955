#include "parley/store/keys.hpp"

#include <stdexcept>

namespace parley::store {

std::string entity_prefix(std::string_view entity_id) {
  // Callers validate ids at the edge; a longer id here is a programming error.
  if (entity_id.size() > max_entity_id_bytes) throw std::length_error("entity id too long");
  std::string key;
  key.reserve(2 + entity_id.size() + 1 + 8);
  key.push_back(static_cast<char>(entity_id.size() >> 8));
  key.push_back(static_cast<char>(entity_id.size() & 0xff));
  key.append(entity_id);
  return key;
}

std::string record_prefix(std::string_view entity_id, record rec) {
  std::string key = entity_prefix(entity_id);
  key.push_back(static_cast<char>(rec));
  return key;
}

std::string seq_key(std::string_view entity_id, record rec, std::uint64_t seq) {
  std::string key = record_prefix(entity_id, rec);
  key += encode_u64(seq);
  return key;
}

std::string named_key(std::string_view entity_id, record rec, std::string_view name) {
  std::string key = record_prefix(entity_id, rec);
  key.append(name);
  return key;
}

std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last != 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;  // empty: no upper bound
}

std::string encode_u64(std::uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::uint64_t decode_u64(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    value = value << 8 | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

std::uint64_t seq_of_key(std::string_view key) {
  return key.size() < 8 ? 0 : decode_u64(key.substr(key.size() - 8));
}

}  // namespace parley::store
