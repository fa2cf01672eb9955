#pragma once
// Cap'n Proto stream framing for frames that come from the network.
//
// A stream-framed message starts with a segment table: (segment count - 1) as a little-endian
// u32, one u32 size in words per segment, padding to a whole word; then the segments. The
// gateway reads the table first (probe_frame) so it can refuse an oversized frame before
// buffering it, and decodes a complete frame with reader options derived from the same limit.

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace parley::schema {

/// The first segment of a message_builder (below): the thread's buffer if free, else a heap one.
/// A base class so that it outlives the builder, whose destructor zeroes the segment.
class detail_first_segment {
 public:
  static constexpr std::size_t words = 1024;
  detail_first_segment();
  ~detail_first_segment();
  detail_first_segment(const detail_first_segment&) = delete;
  detail_first_segment& operator=(const detail_first_segment&) = delete;
  kj::ArrayPtr<capnp::word> segment() const { return {segment_, words}; }

 private:
  capnp::word* segment_;
  bool borrowed_;
};

/// A complete stream-framed message as whole words (8-byte aligned, as capnp requires).
using frame_words = std::vector<std::uint64_t>;

/// An encoded frame on its way out, shared by every connection it is written to (a group
/// message is encoded once, not once per recipient).
using shared_frame = std::shared_ptr<const frame_words>;

/// Wraps one frame for the write path.
inline shared_frame share(frame_words words) {
  return std::make_shared<const frame_words>(std::move(words));
}

/// Limits applied to every frame read from the network.
struct frame_limits {
  /// Largest accepted frame, header included. Bigger frames are refused and the connection
  /// closed. Trade-off: message bodies are bounded by this. Default 1 MiB.
  std::size_t max_frame_bytes = 1 << 20;
  /// Most segments a frame may have. A client library produces 1-2. Default 16.
  std::uint32_t max_segments = 16;

  /// Reader options matching these limits: the traversal limit is the frame size in words
  /// (each word can be read once), the nesting limit small (our schema is shallow).
  capnp::ReaderOptions reader_options() const;
};

/// What the bytes at the head of a stream say about the next frame.
enum class frame_status {
  need_more,  ///< The segment table or the frame is not complete yet.
  complete,   ///< `total_bytes` bytes form one frame.
  too_large,  ///< The frame would exceed max_frame_bytes (total_bytes is its declared size).
  malformed,  ///< The segment table is invalid (zero or too many segments).
};

/// Result of probe_frame.
struct frame_probe {
  frame_status status;      ///< See frame_status.
  std::size_t total_bytes;  ///< Size of the whole frame when known, else the bytes needed next.
};

/// Inspects `len` bytes at the head of a stream. Never reads beyond `len`.
frame_probe probe_frame(const std::uint8_t* data, std::size_t len, const frame_limits& limits);

/// A message builder whose first segment (8 KB) is a per-thread buffer, reused by every
/// builder on the thread: the default MallocMessageBuilder callocs 8 KB per message, which
/// showed in perf as a few per cent of a core in malloc bookkeeping on the push path. A second
/// builder alive on the same thread at once gets a heap segment instead, so nesting is safe.
class message_builder : private detail_first_segment, public capnp::MallocMessageBuilder {
 public:
  message_builder() : MallocMessageBuilder(segment()) {}
};

/// Serialises a message with stream framing.
frame_words encode_frame(capnp::MessageBuilder& message);

/// A reader over `words` (which must outlive it), with the given options.
capnp::FlatArrayMessageReader read_frame(const frame_words& words,
                                         const capnp::ReaderOptions& options);

}  // namespace parley::schema

namespace parley::schema {

/// Copies bytes (e.g. a RocksDB value) into whole words so capnp can read them. The size must
/// be a multiple of 8; returns an empty vector otherwise.
frame_words words_from_bytes(const std::string& bytes);

/// Copies stored records (flat `T` structs written by this engine, so trusted) into `list`,
/// which has room for all of them.
template <class T>
void copy_stored(const std::vector<std::string>& records, typename capnp::List<T>::Builder list) {
  for (unsigned i = 0; i < records.size(); ++i) {
    auto words = words_from_bytes(records[i]);
    auto reader = read_frame(words, capnp::ReaderOptions());
    list.setWithCaveats(i, reader.template getRoot<T>());
  }
}

/// Serialises a message flat (stream framing) into a byte string, for storing.
std::string encode_bytes(capnp::MessageBuilder& message);

/// A Cap'n Proto text field as a std::string.
inline std::string text(capnp::Text::Reader t) {
  return std::string(t.cStr(), t.size());
}

}  // namespace parley::schema

namespace parley::schema {

/// Splits a byte stream into stream-framed messages: read into write_area(), commit() what
/// arrived, then take frames with next() until it returns nullopt. Used by the gateway, the
/// client library and the load generator. Not thread-safe (one reader).
class frame_splitter {
 public:
  /// `initial` is the buffer size while idle (allocated on first use). The buffer grows with
  /// the bytes that arrive, never ahead of them: a header announcing a 1 MiB frame costs
  /// nothing until the megabyte is sent. It shrinks back after large frames.
  explicit frame_splitter(frame_limits limits, std::size_t initial = 256);

  /// Where to read the next bytes to; never empty.
  std::pair<std::uint8_t*, std::size_t> write_area();
  /// Records that `n` bytes were written into write_area().
  void commit(std::size_t n);
  /// Appends bytes read elsewhere (a transport reading into a shared scratch buffer).
  void append(const std::uint8_t* data, std::size_t n);
  /// Frees the buffer if no unread byte is left: an idle stream then holds no memory.
  void release_if_drained();
  /// The next complete frame, or nullopt if more bytes are needed or the stream is broken.
  std::optional<frame_words> next();
  /// complete while the stream is fine; too_large or malformed once it cannot continue.
  frame_status state() const { return status_; }
  /// Whether bytes of an unfinished frame are buffered (next() returned nullopt with bytes
  /// left).
  bool holds_partial_frame() const { return begin_ != end_; }
  /// Bytes the buffer holds allocated (tests, memory accounting).
  std::size_t capacity() const { return buf_.capacity(); }
  /// Changes the limits for the frames not yet returned (e.g. larger after a login).
  void set_limits(const frame_limits& limits) { limits_ = limits; }

 private:
  frame_limits limits_;
  std::size_t initial_;
  std::vector<std::uint8_t> buf_;
  std::size_t begin_ = 0;  // first unread byte
  std::size_t end_ = 0;    // one past the last written byte
  frame_status status_ = frame_status::complete;
};

}  // namespace parley::schema
