#include "parley/schema/framing.hpp"

#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>
#include <memory>

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

namespace {

struct thread_segment {
  std::unique_ptr<capnp::word[]> words{new capnp::word[detail_first_segment::words]()};
  bool in_use = false;
};

thread_segment& this_threads_segment() {
  thread_local thread_segment s;
  return s;
}

}  // namespace

detail_first_segment::detail_first_segment() {
  auto& mine = this_threads_segment();
  borrowed_ = !mine.in_use;
  if (borrowed_) {
    mine.in_use = true;
    segment_ = mine.words.get();
  } else {
    segment_ = new capnp::word[words]();  // zeroed, as MallocMessageBuilder requires
  }
}

detail_first_segment::~detail_first_segment() {
  // The builder's destructor has zeroed what it used: the buffer is ready for the next one.
  if (borrowed_)
    this_threads_segment().in_use = false;
  else
    delete[] segment_;
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

namespace parley::schema {

frame_splitter::frame_splitter(frame_limits limits, std::size_t initial)
    : limits_(limits), initial_(std::max<std::size_t>(initial, 64)) {}

std::pair<std::uint8_t*, std::size_t> frame_splitter::write_area() {
  if (begin_ > 0) {  // keep the unread bytes at the front
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ <= initial_ && buf_.size() > 4 * initial_) {
    buf_.resize(initial_);  // give back memory after a large frame: idle streams stay small
    buf_.shrink_to_fit();
  }
  if (end_ == buf_.size()) buf_.resize(std::max(initial_, buf_.size() * 2));
  return {buf_.data() + end_, buf_.size() - end_};
}

void frame_splitter::commit(std::size_t n) {
  end_ += n;
}

void frame_splitter::append(const std::uint8_t* data, std::size_t n) {
  if (n == 0) return;  // (data may then be null, which memcpy must not see)
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() < end_ + n) buf_.resize(end_ + n);
  std::memcpy(buf_.data() + end_, data, n);
  end_ += n;
}

void frame_splitter::release_if_drained() {
  if (begin_ != end_ || buf_.empty()) return;
  std::vector<std::uint8_t>().swap(buf_);
  begin_ = end_ = 0;
}

std::optional<frame_words> frame_splitter::next() {
  if (status_ != frame_status::complete) return std::nullopt;
  auto probe = probe_frame(buf_.data() + begin_, end_ - begin_, limits_);
  // Not complete yet: the buffer grows as the rest arrives (append), not to the announced size.
  if (probe.status == frame_status::need_more) return std::nullopt;
  if (probe.status != frame_status::complete) {
    status_ = probe.status;
    return std::nullopt;
  }
  frame_words words(probe.total_bytes / sizeof(std::uint64_t));
  std::memcpy(words.data(), buf_.data() + begin_, probe.total_bytes);
  begin_ += probe.total_bytes;
  return words;
}

}  // namespace parley::schema
