#include "parley/schema/framing.hpp"

#include <capnp/serialize.h>

#include <cstring>

namespace parley::schema {

capnp::ReaderOptions frame_limits::reader_options() const {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = max_frame_bytes / sizeof(capnp::word) + 1;
  options.nestingLimit = 16;
  return options;
}

namespace {

std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

}  // namespace

frame_probe probe_frame(const std::uint8_t* data, std::size_t len, const frame_limits& limits) {
  if (len < 4) return {frame_status::need_more, 4};
  const std::uint64_t segments = std::uint64_t{load_le32(data)} + 1;
  if (segments > limits.max_segments) return {frame_status::malformed, 0};
  // The table holds the count word plus one u32 per segment, padded to 8 bytes.
  const std::size_t table_bytes = ((4 + 4 * segments) + 7) / 8 * 8;
  if (len < table_bytes) return {frame_status::need_more, table_bytes};
  std::uint64_t total = table_bytes;
  for (std::uint64_t i = 0; i < segments; ++i) {
    total += std::uint64_t{load_le32(data + 4 + 4 * i)} * 8;
  }
  if (total > limits.max_frame_bytes) return {frame_status::too_large, total};
  if (total == table_bytes) return {frame_status::malformed, 0};  // no content at all
  if (len < total) return {frame_status::need_more, total};
  return {frame_status::complete, total};
}

frame_words encode_frame(capnp::MessageBuilder& message) {
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(message);
  frame_words out(flat.size());
  std::memcpy(out.data(), flat.begin(), flat.size() * sizeof(capnp::word));
  return out;
}

capnp::FlatArrayMessageReader read_frame(const frame_words& words,
                                         const capnp::ReaderOptions& options) {
  auto ptr = kj::arrayPtr(reinterpret_cast<const capnp::word*>(words.data()), words.size());
  return capnp::FlatArrayMessageReader(ptr, options);
}

}  // namespace parley::schema

namespace parley::schema {

frame_words words_from_bytes(const std::string& bytes) {
  if (bytes.size() % sizeof(capnp::word) != 0) return {};
  frame_words out(bytes.size() / sizeof(capnp::word));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

std::string encode_bytes(capnp::MessageBuilder& message) {
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(message);
  auto bytes = flat.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

}  // namespace parley::schema
