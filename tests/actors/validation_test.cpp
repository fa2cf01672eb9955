// actors/: request validation at the client edge, without actors or sockets.
#define BOOST_TEST_MODULE actors
#include <boost/test/unit_test.hpp>

#include "parley/actors/validation.hpp"

#include <capnp/message.h>

#include <functional>
#include <string>

using namespace parley;
using namespace parley::actors;

namespace {

/// Validates a Send built by `fill` (from alice on "phone"), with the default limits.
std::variant<validated_send, refusal> check(const std::function<void(wire::Send::Builder)>& fill,
                                            const actor_options& o = {}) {
  capnp::MallocMessageBuilder message;
  auto s = message.initRoot<wire::Send>();
  s.setClientMsgId("m1");
  s.setBody(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>("hi"), 2));
  s.initTarget().setUser("bob");
  fill(s);
  return validate_send(s.asReader(), "alice", "phone", o);
}

/// The refusal's message, or "" if the request was valid.
std::string refused(const std::variant<validated_send, refusal>& v) {
  auto* r = std::get_if<refusal>(&v);
  if (!r) return "";
  BOOST_TEST((r->code == errc::bad_request));
  return r->message;
}

capnp::Data::Reader bytes(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(send_validation)

BOOST_AUTO_TEST_CASE(a_valid_direct_send_names_its_conversation_and_entity) {
  auto v = check([](wire::Send::Builder) {});
  BOOST_TEST_REQUIRE(std::holds_alternative<validated_send>(v));
  const auto& send = std::get<validated_send>(v);
  BOOST_TEST(send.request.conversation == "dm/alice/bob");
  BOOST_TEST(send.entity == "conv/dm/alice/bob");
  BOOST_TEST(send.request.sender == "alice");
  BOOST_TEST(send.request.device == "phone");
  BOOST_TEST(send.request.body == "hi");
}

BOOST_AUTO_TEST_CASE(a_valid_group_send_goes_to_the_group) {
  auto v = check([](wire::Send::Builder s) { s.initTarget().setGroup("team"); });
  BOOST_TEST_REQUIRE(std::holds_alternative<validated_send>(v));
  BOOST_TEST(std::get<validated_send>(v).entity == "group/team");
  BOOST_TEST(std::get<validated_send>(v).request.conversation == "group/team");
}

BOOST_AUTO_TEST_CASE(every_limit_and_bad_field_is_a_bad_request) {
  BOOST_TEST(refused(check([](auto s) { s.setClientMsgId(""); })) ==
             "clientMsgId must be 1-128 bytes");
  BOOST_TEST(refused(check([](auto s) { s.setClientMsgId(std::string(129, 'c')); })) ==
             "clientMsgId must be 1-128 bytes");
  BOOST_TEST(refused(check([](auto s) { s.setClientMsgId(std::string(128, 'c')); })) == "");
  BOOST_TEST(refused(check([](auto s) { s.setBody(bytes("")); })) == "empty message body");
  actor_options small;
  small.max_body_bytes = 10;
  BOOST_TEST(refused(check([](auto s) { s.setBody(bytes(std::string(11, 'b'))); }, small)) ==
             "body exceeds 10 bytes");
  BOOST_TEST(refused(check([](auto s) { s.setBody(bytes(std::string(10, 'b'))); }, small)) == "");
  BOOST_TEST(refused(check([](auto s) { s.initMentions(101); })) == "at most 100 mentions");
  BOOST_TEST(refused(check([](auto s) {
               auto m = s.initMentions(2);
               m.set(0, "carol");
               m.set(1, "not valid");
             })) == "invalid user id in mentions");
  BOOST_TEST(refused(check([](auto s) { s.initTarget().setUser("b/ob"); })) == "invalid user id");
  BOOST_TEST(refused(check([](auto s) { s.initTarget().setUser("alice"); })) ==
             "cannot message yourself");
  BOOST_TEST(refused(check([](auto s) { s.initTarget().setGroup(""); })) == "invalid group id");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(device_ids)

BOOST_AUTO_TEST_CASE(device_ids_are_short_printable_and_non_empty) {
  BOOST_TEST(valid_device_id("phone"));
  BOOST_TEST(valid_device_id(std::string(128, 'd')));
  BOOST_TEST(!valid_device_id(""));
  BOOST_TEST(!valid_device_id(std::string(129, 'd')));
  BOOST_TEST(!valid_device_id(std::string("ph\0ne", 5)));
  BOOST_TEST(!valid_device_id("tab\there"));
  BOOST_TEST(!valid_device_id("del\x7f"));
  BOOST_TEST(valid_device_id("téléphone"));  // UTF-8 is fine
}

BOOST_AUTO_TEST_SUITE_END()
