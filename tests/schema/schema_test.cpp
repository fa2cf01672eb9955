// schema/: stream framing limits and schema evolution.
#define BOOST_TEST_MODULE schema
#include <boost/test/unit_test.hpp>

#include "parley/schema/framing.hpp"

#include "client.capnp.h"
#include "schema/old_client.capnp.h"

#include <capnp/message.h>
#include <cstring>

using namespace parley;

namespace {

std::vector<std::uint8_t> bytes_of(const schema::frame_words& w) {
  std::vector<std::uint8_t> out(w.size() * 8);
  std::memcpy(out.data(), w.data(), out.size());
  return out;
}

schema::frame_words sample_push() {
  capnp::MallocMessageBuilder message;
  auto f = message.initRoot<wire::ServerFrame>();
  auto m = f.initMessage();
  m.setConversation("dm/alice/bob");
  m.setSeq(7);
  m.setSender("alice");
  m.setBody(capnp::Data::Reader(reinterpret_cast<const kj::byte*>("hi"), 2));
  auto mentions = m.initMentions(1);  // a field the old schema does not know
  mentions.set(0, "bob");
  return schema::encode_frame(message);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(framing)

BOOST_AUTO_TEST_CASE(appending_nothing_is_a_no_op) {
  // A TLS read may decrypt nothing (handshake records): the splitter gets (nullptr, 0), which
  // must not reach memcpy (UBSan flagged it).
  schema::frame_splitter in(schema::frame_limits{});
  in.append(nullptr, 0);
  BOOST_TEST(!in.next().has_value());
  BOOST_TEST(!in.holds_partial_frame());
  BOOST_TEST((in.state() == schema::frame_status::complete));
}

BOOST_AUTO_TEST_CASE(a_complete_frame_is_found_and_a_partial_one_waits) {
  auto bytes = bytes_of(sample_push());
  schema::frame_limits limits;
  auto whole = schema::probe_frame(bytes.data(), bytes.size(), limits);
  BOOST_TEST((whole.status == schema::frame_status::complete));
  BOOST_TEST(whole.total_bytes == bytes.size());
  auto part = schema::probe_frame(bytes.data(), bytes.size() - 1, limits);
  BOOST_TEST((part.status == schema::frame_status::need_more));
  BOOST_TEST(part.total_bytes == bytes.size());
  auto tiny = schema::probe_frame(bytes.data(), 3, limits);
  BOOST_TEST((tiny.status == schema::frame_status::need_more));
}

BOOST_AUTO_TEST_CASE(an_oversized_frame_is_refused_from_its_header) {
  // One segment declared at 2^20 words (8 MiB); only the 8-byte header is present.
  std::uint8_t header[8] = {0, 0, 0, 0, 0, 0, 0x10, 0};
  schema::frame_limits limits;
  auto p = schema::probe_frame(header, sizeof header, limits);
  BOOST_TEST((p.status == schema::frame_status::too_large));
}

BOOST_AUTO_TEST_CASE(a_segment_table_with_too_many_segments_is_malformed) {
  std::uint8_t header[8] = {0xff, 0xff, 0, 0, 1, 0, 0, 0};
  schema::frame_limits limits;
  auto p = schema::probe_frame(header, sizeof header, limits);
  BOOST_TEST((p.status == schema::frame_status::malformed));
}

BOOST_AUTO_TEST_CASE(reader_limits_follow_the_frame_limit) {
  schema::frame_limits limits;
  limits.max_frame_bytes = 4096;
  BOOST_TEST(limits.reader_options().traversalLimitInWords == 4096u / 8 + 1);
}

BOOST_AUTO_TEST_CASE(the_splitter_reassembles_frames_from_any_chunking) {
  auto one = bytes_of(sample_push());
  std::vector<std::uint8_t> stream(one);
  stream.insert(stream.end(), one.begin(), one.end());  // two frames back to back
  schema::frame_splitter byte_by_byte(schema::frame_limits{}, 8);
  std::size_t frames = 0;
  for (auto b : stream) {
    auto [at, room] = byte_by_byte.write_area();
    BOOST_TEST_REQUIRE(room >= 1u);
    *at = b;
    byte_by_byte.commit(1);
    while (auto f = byte_by_byte.next()) {
      BOOST_TEST(f->size() * 8 == one.size());
      ++frames;
    }
  }
  BOOST_TEST(frames == 2u);
  BOOST_TEST((byte_by_byte.state() == schema::frame_status::complete));
}

BOOST_AUTO_TEST_CASE(the_splitter_stops_at_an_oversized_frame) {
  schema::frame_splitter s(schema::frame_limits{}, 64);
  const std::uint8_t header[8] = {0, 0, 0, 0, 0, 0, 0x10, 0};
  auto [at, room] = s.write_area();
  std::memcpy(at, header, sizeof header);
  s.commit(sizeof header);
  BOOST_TEST(!s.next().has_value());
  BOOST_TEST((s.state() == schema::frame_status::too_large));
}

BOOST_AUTO_TEST_CASE(a_declared_size_costs_nothing_until_its_bytes_arrive) {
  // 16 bytes announcing a 1 MiB frame used to make the splitter allocate (and zero) the whole
  // megabyte at once: 300 such idle sockets pinned 300 MB.
  schema::frame_splitter s(schema::frame_limits{}, 64);
  const std::uint32_t words = (1u << 20) / 8 - 2;
  const std::uint8_t table[16] = {0,
                                  0,
                                  0,
                                  0,
                                  static_cast<std::uint8_t>(words),
                                  static_cast<std::uint8_t>(words >> 8),
                                  static_cast<std::uint8_t>(words >> 16),
                                  0,
                                  1,
                                  2,
                                  3,
                                  4,
                                  5,
                                  6,
                                  7,
                                  8};
  s.append(table, sizeof table);
  BOOST_TEST(!s.next().has_value());
  BOOST_TEST((s.state() == schema::frame_status::complete));
  BOOST_TEST(s.holds_partial_frame());
  BOOST_TEST(s.capacity() <= 1024u);
  // It grows with what arrives, and the frame completes.
  std::vector<std::uint8_t> rest(words * 8 - 8, 0);
  s.append(rest.data(), rest.size());
  auto frame = s.next();
  BOOST_TEST_REQUIRE(frame.has_value());
  BOOST_TEST(frame->size() == words + 1u);
  BOOST_TEST(!s.holds_partial_frame());
}

BOOST_AUTO_TEST_CASE(limits_can_be_raised_for_frames_not_yet_returned) {
  schema::frame_limits small;
  small.max_frame_bytes = 64;
  schema::frame_splitter s(small, 64);
  const std::uint8_t table[8] = {0, 0, 0, 0, 16, 0, 0, 0};  // 128 bytes of content
  s.append(table, sizeof table);
  s.set_limits(schema::frame_limits{});
  BOOST_TEST(!s.next().has_value());
  BOOST_TEST((s.state() == schema::frame_status::complete));
  s.set_limits(small);
  BOOST_TEST(!s.next().has_value());
  BOOST_TEST((s.state() == schema::frame_status::too_large));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(evolution)

BOOST_AUTO_TEST_CASE(an_old_reader_accepts_a_new_message) {
  auto words = sample_push();
  auto reader = schema::read_frame(words, capnp::ReaderOptions());
  auto frame = reader.getRoot<old_wire::ServerFrame>();
  BOOST_TEST_REQUIRE((frame.which() == old_wire::ServerFrame::MESSAGE));
  auto m = frame.getMessage();
  BOOST_TEST(std::string(m.getConversation().cStr()) == "dm/alice/bob");
  BOOST_TEST(m.getSeq() == 7u);
  BOOST_TEST(m.getBody().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_new_reader_sees_defaults_in_an_old_message) {
  capnp::MallocMessageBuilder message;
  auto f = message.initRoot<old_wire::ServerFrame>();
  f.initMessage().setSeq(3);
  auto words = schema::encode_frame(message);
  auto reader = schema::read_frame(words, capnp::ReaderOptions());
  auto m = reader.getRoot<wire::ServerFrame>().getMessage();
  BOOST_TEST(m.getSeq() == 3u);
  BOOST_TEST(m.getMentions().size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
