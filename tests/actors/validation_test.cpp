// actors/: request validation at the client edge, without actors or sockets.
#define BOOST_TEST_MODULE actors
#include <boost/test/unit_test.hpp>

#include "parley/actors/validation.hpp"

#include <capnp/message.h>

#include <functional>
#include <optional>
#include <string>

using namespace parley;
using namespace parley::actors;

namespace {

/// Validates a Send built by `fill` (from alice on "phone"), with the default limits.
result<validated_send> check(const std::function<void(wire::Send::Builder)>& fill,
                             const actor_options& o = {}) {
  capnp::MallocMessageBuilder message;
  auto s = message.initRoot<wire::Send>();
  s.setClientMsgId("m1");
  s.setBody(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>("hi"), 2));
  s.initTarget().setUser("bob");
  fill(s);
  return validate_send(s.asReader(), "alice", "phone", o);
}

/// A refused request's code and message, as the client gets them.
struct refusal {
  errc code;
  std::string message;
};

/// The refusal, or nothing if the value was valid.
template <class T>
std::optional<refusal> refusal_of(const result<T>& v) {
  if (v) return std::nullopt;
  BOOST_TEST_REQUIRE(v.error().in(category_of(errc{})));  // a request error, nothing else
  return refusal{static_cast<errc>(v.error().code()), v.error().message()};
}

/// The refusal's message, or "" if the request was valid.
std::string refused(const result<validated_send>& v) {
  auto r = refusal_of(v);
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
  BOOST_TEST_REQUIRE(v.ok());
  const auto& send = v.value();
  BOOST_TEST(send.request.conversation == "dm/alice/bob");
  BOOST_TEST(send.entity == "conv/dm/alice/bob");
  BOOST_TEST(send.request.sender == "alice");
  BOOST_TEST(send.request.device == "phone");
  BOOST_TEST(send.request.body == "hi");
}

BOOST_AUTO_TEST_CASE(a_valid_group_send_goes_to_the_group) {
  auto v = check([](wire::Send::Builder s) { s.initTarget().setGroup("team"); });
  BOOST_TEST_REQUIRE(v.ok());
  BOOST_TEST(v.value().entity == "group/team");
  BOOST_TEST(v.value().request.conversation == "group/team");
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

namespace {

result<history_query> history(const std::function<void(wire::History::Builder)>& fill,
                              const actor_options& o = {}) {
  capnp::MallocMessageBuilder message;
  auto h = message.initRoot<wire::History>();
  h.setConversation("dm/alice/bob");
  fill(h);
  return validate_history(h.asReader(), o);
}

result<validated_group_create> create(const std::function<void(wire::CreateGroup::Builder)>& fill) {
  capnp::MallocMessageBuilder message;
  auto c = message.initRoot<wire::CreateGroup>();
  c.setGroupId("team");
  c.setName("The team");
  fill(c);
  return validate_create_group(c.asReader());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(read_validation)

BOOST_AUTO_TEST_CASE(a_reader_names_a_well_formed_conversation_it_may_read) {
  auto direct = validate_read("dm/alice/bob", "bob");
  BOOST_TEST_REQUIRE(direct.ok());
  BOOST_TEST(!direct.value().is_group);
  auto group = validate_read("group/team", "carol");  // membership is the group's to check
  BOOST_TEST_REQUIRE(group.ok());
  BOOST_TEST(group.value().group == "team");

  auto other = refusal_of(validate_read("dm/alice/bob", "carol"));
  BOOST_TEST_REQUIRE(other.has_value());
  BOOST_TEST((other->code == errc::forbidden));
  BOOST_TEST(other->message == "carol is not part of dm/alice/bob");
  for (const char* bad : {"", "dm/alice", "dm/bob/alice", "dm/a/a", "group/", "chat/x", "dm//b"}) {
    auto r = refusal_of(validate_read(bad, "alice"));
    BOOST_TEST_REQUIRE(r.has_value(), bad);
    BOOST_TEST((r->code == errc::bad_request), bad);
    BOOST_TEST(r->message == std::string("invalid conversation id '") + bad + "'");
  }
}

BOOST_AUTO_TEST_CASE(pages_default_and_are_capped) {
  actor_options o;
  o.default_page = 50;
  o.max_page = 200;
  BOOST_TEST(page_limit(0, o) == 50u);
  BOOST_TEST(page_limit(7, o) == 7u);
  BOOST_TEST(page_limit(200, o) == 200u);
  BOOST_TEST(page_limit(201, o) == 200u);
}

BOOST_AUTO_TEST_CASE(history_starts_before_a_seq_or_a_positive_time) {
  auto from_newest = history([](auto h) { h.initBefore().setSeq(0); });
  BOOST_TEST_REQUIRE(from_newest.ok());
  BOOST_TEST(from_newest.value().before_seq == 0u);
  BOOST_TEST(from_newest.value().limit == actor_options{}.default_page);
  auto before_seq = history([](auto h) {
    h.initBefore().setSeq(42);
    h.setLimit(10);
  });
  BOOST_TEST(before_seq.value().before_seq == 42u);
  BOOST_TEST(before_seq.value().limit == 10u);
  auto before_time = history([](auto h) { h.initBefore().setTimeMs(1700000000000); });
  BOOST_TEST(before_time.value().before_time_ms == 1700000000000u);

  auto zero_time = refusal_of(history([](auto h) { h.initBefore().setTimeMs(0); }));
  BOOST_TEST_REQUIRE(zero_time.has_value());
  BOOST_TEST((zero_time->code == errc::bad_request));
  BOOST_TEST(zero_time->message ==
             "before.timeMs must be > 0 (before.seq = 0 reads from the newest)");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(group_validation)

BOOST_AUTO_TEST_CASE(a_group_is_created_with_a_valid_or_no_id_a_short_name_and_a_known_policy) {
  auto ok = create([](auto c) {
    c.setJoinPolicy(wire::JoinPolicy::OPEN);
    c.setShareHistory(true);
  });
  BOOST_TEST_REQUIRE(ok.ok());
  auto& g = ok.value();
  BOOST_TEST(g.group == "team");
  BOOST_TEST(g.spec.name == "The team");
  BOOST_TEST(g.spec.join_policy == static_cast<std::uint16_t>(wire::JoinPolicy::OPEN));
  BOOST_TEST(g.spec.share_history);
  auto approval = create([](auto c) { c.setJoinPolicy(wire::JoinPolicy::APPROVAL); });
  BOOST_TEST(approval.value().spec.join_policy ==
             static_cast<std::uint16_t>(wire::JoinPolicy::APPROVAL));
  auto invite_only = create([](auto) {});  // the default policy
  BOOST_TEST(invite_only.value().spec.join_policy ==
             static_cast<std::uint16_t>(wire::JoinPolicy::INVITE_ONLY));
  auto server_chosen = create([](auto c) { c.setGroupId(""); });
  BOOST_TEST(server_chosen.value().group == "");
  auto longest = create([](auto c) { c.setName(std::string(max_group_name, 'n')); });
  BOOST_TEST(longest.ok());

  auto bad_id = refusal_of(create([](auto c) { c.setGroupId("te/am"); }));
  BOOST_TEST_REQUIRE(bad_id.has_value());
  BOOST_TEST(bad_id->message == "invalid group id");
  auto long_name = refusal_of(create([](auto c) { c.setName(std::string(129, 'n')); }));
  BOOST_TEST_REQUIRE(long_name.has_value());
  BOOST_TEST(long_name->message == "group name exceeds 128 bytes");
  auto unknown = refusal_of(create([](auto c) { c.setJoinPolicy(wire::JoinPolicy(7)); }));
  BOOST_TEST_REQUIRE(unknown.has_value());
  BOOST_TEST((unknown->code == errc::bad_request));
  BOOST_TEST(unknown->message == "unknown join policy");
}

BOOST_AUTO_TEST_CASE(joins_leaves_kicks_and_adds_name_valid_groups_and_users) {
  capnp::MallocMessageBuilder message;
  auto g = message.initRoot<wire::GroupRef>();
  g.setGroupId("team");
  BOOST_TEST(validate_group_ref(g.asReader()).value() == "team");
  g.setGroupId("");
  BOOST_TEST(refusal_of(validate_group_ref(g.asReader()))->message == "invalid group id");

  auto change = validate_member_change("team", "bob");
  BOOST_TEST_REQUIRE(change.ok());
  BOOST_TEST(change.value().user == "bob");
  for (auto [group, user] :
       {std::pair{"", "bob"}, {"team", ""}, {"te am", "bob"}, {"team", "b\nob"}}) {
    auto r = refusal_of(validate_member_change(group, user));
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST((r->code == errc::bad_request));
    BOOST_TEST(r->message == "invalid group or user id");
  }
}

BOOST_AUTO_TEST_SUITE_END()
