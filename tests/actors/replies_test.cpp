// actors/connection/replies: what a client reads back from each reply encoder.
#include <boost/test/unit_test.hpp>

#include "connection/replies.hpp"

#include "parley/actors/connection.hpp"
#include "parley/runtime/cluster_errc.hpp"
#include "parley/runtime/token.hpp"
#include "parley/store/status.hpp"

#include <capnp/message.h>

using namespace parley;
using namespace parley::actors;

namespace {

/// Decodes a frame the way a client does.
template <class Check>
void read_back(const schema::shared_frame& frame, Check check) {
  auto reader = schema::read_frame(*frame, capnp::ReaderOptions());
  check(reader.getRoot<wire::ServerFrame>());
}

/// A stored record as entities keep it: a flat-encoded Message.
std::string stored_message(std::uint64_t seq, const std::string& body) {
  schema::message_builder b;
  auto m = b.initRoot<wire::Message>();
  m.setSeq(seq);
  m.setBody(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(body.data()), body.size()));
  const auto words = schema::encode_frame(b);
  return std::string(reinterpret_cast<const char*>(words.data()), words.size() * 8);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replies)

BOOST_AUTO_TEST_CASE(answers_read_back_as_encoded) {
  auto frame = encode_server_frame([](wire::ServerFrame::Builder f) {
    f.setRequestId(7);
    fill_sent(f.initResult(), send_ack{"dm/alice/bob", 42, 1700000000000});
  });
  read_back(frame, [](wire::ServerFrame::Reader f) {
    BOOST_TEST(f.getRequestId() == 7u);
    auto sent = f.getResult().getSent();
    BOOST_TEST(std::string(sent.getConversation().cStr()) == "dm/alice/bob");
    BOOST_TEST(sent.getSeq() == 42u);
    BOOST_TEST(sent.getTimestampMs() == 1700000000000u);
  });

  frame = encode_server_frame([](wire::ServerFrame::Builder f) {
    fill_group(f.initResult(), group_info{"team", "The team", 2, true, false});
  });
  read_back(frame, [](wire::ServerFrame::Reader f) {
    auto g = f.getResult().getGroup();
    BOOST_TEST(std::string(g.getGroupId().cStr()) == "team");
    BOOST_TEST(std::string(g.getName().cStr()) == "The team");
    BOOST_TEST((g.getRole() == wire::GroupRole(2)));
    BOOST_TEST((g.getJoinPolicy() == wire::JoinPolicy::OPEN));
    BOOST_TEST(!g.getShareHistory());
  });

  record_page page;
  page.records = {stored_message(1, "one"), stored_message(2, "two")};
  page.has_more = true;
  frame = encode_server_frame(
      [&](wire::ServerFrame::Builder f) { fill_messages(f.initResult(), page); });
  read_back(frame, [](wire::ServerFrame::Reader f) {
    auto messages = f.getResult().getMessages();
    BOOST_TEST(messages.getHasMore());
    BOOST_TEST_REQUIRE(messages.getMessages().size() == 2u);
    BOOST_TEST(messages.getMessages()[1].getSeq() == 2u);
    auto body = messages.getMessages()[1].getBody();
    BOOST_TEST(std::string(reinterpret_cast<const char*>(body.begin()), body.size()) == "two");
  });
}

BOOST_AUTO_TEST_CASE(only_request_errors_reach_a_client_with_their_own_text) {
  auto wire = [](const error& e) { return to_wire(e); };
  BOOST_TEST((wire({}).code == wire::ErrorCode::OK));
  auto refused = wire({errc::not_member, "alice is not a member of team"});
  BOOST_TEST((refused.code == wire::ErrorCode::NOT_MEMBER));
  BOOST_TEST(refused.message == "alice is not a member of team");
  // Storage and cluster text (paths, library words) never leaves the node.
  auto disk = wire({store::errc::io_error, "IO error: /var/lib/parley/db/000012.log: No space"});
  BOOST_TEST((disk.code == wire::ErrorCode::UNAVAILABLE));
  BOOST_TEST(disk.message == "storage is temporarily unavailable; retry later");
  auto broken = wire({store::errc::corruption, "Corruption: block checksum mismatch"});
  BOOST_TEST((broken.code == wire::ErrorCode::INTERNAL));
  BOOST_TEST(broken.message.find("checksum") == std::string::npos);
  auto etcd = wire({runtime::cluster_errc::etcd_unreachable, "etcd at http://10.0.0.5:2379 down"});
  BOOST_TEST((etcd.code == wire::ErrorCode::UNAVAILABLE));
  BOOST_TEST(etcd.message.find("10.0.0.5") == std::string::npos);
  BOOST_TEST((wire({runtime::cluster_errc::certificate, "/etc/ca.pem"}).code ==
              wire::ErrorCode::INTERNAL));
  // Token verdicts keep their sentence; a missing secret is the server's problem.
  BOOST_TEST((wire({runtime::auth_errc::expired, "the token has expired"}).code ==
              wire::ErrorCode::TOKEN_EXPIRED));
  BOOST_TEST((wire({runtime::auth_errc::forged, "the token signature is invalid"}).code ==
              wire::ErrorCode::TOKEN_INVALID));
  auto secret = wire({runtime::auth_errc::no_secret, "/data/secret does not exist"});
  BOOST_TEST((secret.code == wire::ErrorCode::INTERNAL));
  BOOST_TEST(secret.message == "internal error");
}

BOOST_AUTO_TEST_CASE(errors_and_kicks_carry_their_code_and_generic_text) {
  read_back(encode_error({errc::unavailable, "retry later"}), [](wire::ServerFrame::Reader f) {
    BOOST_TEST(f.getRequestId() == 0u);
    BOOST_TEST((f.getResult().getCode() == wire::ErrorCode::UNAVAILABLE));
    BOOST_TEST(std::string(f.getResult().getErrorMessage().cStr()) == "retry later");
  });
  read_back(encode_kicked(kick_reason::too_slow, "read your pushes"),
            [](wire::ServerFrame::Reader f) {
              BOOST_TEST((f.getKicked().getReason() == wire::KickReason::TOO_SLOW));
              BOOST_TEST(std::string(f.getKicked().getDetail().cStr()) == "read your pushes");
            });
}

BOOST_AUTO_TEST_SUITE_END()
