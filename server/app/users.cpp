// Users: sessions, kick, ban and unban, all answered by the user's presence actor (the shard's
// actor that holds its sessions and the app's access record of it); profiles and relations,
// answered by the user's own actor as its client's requests are.

#include "capabilities.hpp"
#include "support.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/actors/validation.hpp"
#include "parley/schema/framing.hpp"
#include "parley/schema/ids.hpp"

#include "client.capnp.h"

#include <chrono>

namespace parley::server::app_rpc {

namespace {

using schema::text;

// The app's relation actions are the client's relation ops, by number.
static_assert(static_cast<std::uint16_t>(app::RelationAction::REQUEST) ==
              static_cast<std::uint16_t>(actors::relation_op::request));
static_assert(static_cast<std::uint16_t>(app::RelationAction::ACCEPT) ==
              static_cast<std::uint16_t>(actors::relation_op::accept));
static_assert(static_cast<std::uint16_t>(app::RelationAction::DECLINE) ==
              static_cast<std::uint16_t>(actors::relation_op::decline));
static_assert(static_cast<std::uint16_t>(app::RelationAction::CANCEL) ==
              static_cast<std::uint16_t>(actors::relation_op::cancel));
static_assert(static_cast<std::uint16_t>(app::RelationAction::REMOVE) ==
              static_cast<std::uint16_t>(actors::relation_op::remove));
static_assert(static_cast<std::uint16_t>(app::RelationAction::BLOCK) ==
              static_cast<std::uint16_t>(actors::relation_op::block));
static_assert(static_cast<std::uint16_t>(app::RelationAction::UNBLOCK) ==
              static_cast<std::uint16_t>(actors::relation_op::unblock));

/// Longest ban reason, bytes (it is shown to the user's clients).
constexpr std::size_t max_ban_reason_bytes = 256;

class users_impl final : public app::Users::Server {
 public:
  explicit users_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> kick(KickContext context) override {
    auto p = context.getParams();
    const std::string user = text(p.getUser());
    const std::string device = text(p.getDevice());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    if (!device.empty() && !actors::valid_device_id(device)) {
      return refuse(errc::bad_request, "invalid device id");
    }
    auto answer = answer_from_caf<std::uint64_t>();
    actors::kick_sessions(svc_, user, device, "removed by the app", std::move(answer.callback));
    return answer.promise.then([context](std::uint64_t kicked) mutable {
      context.getResults().setKicked(static_cast<std::uint32_t>(kicked));
    });
  }

  kj::Promise<void> sessions(SessionsContext context) override {
    const std::string user = text(context.getParams().getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    auto answer = answer_from_caf<std::vector<actors::session_info>>();
    actors::sessions_of(svc_, user, std::move(answer.callback));
    return answer.promise.then([context](std::vector<actors::session_info> found) mutable {
      auto list = context.getResults().initSessions(static_cast<unsigned>(found.size()));
      for (unsigned i = 0; i < found.size(); ++i) {
        list[i].setDevice(found[i].device);
        list[i].setDeviceType(found[i].device_type);
        list[i].setSinceMs(found[i].since_ms);
        list[i].setNode(found[i].node);
      }
    });
  }

  kj::Promise<void> ban(BanContext context) override {
    auto p = context.getParams();
    const std::string user = text(p.getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    actors::ban_spec ban{p.getUntilUnixMs(), text(p.getReason())};
    if (ban.reason.size() > max_ban_reason_bytes || !actors::printable(ban.reason)) {
      return refuse(errc::bad_request,
                    "reason must be at most 256 bytes without control "
                    "characters");
    }
    auto answer = answer_from_caf<std::uint64_t>();
    actors::ban_user(svc_, user, std::move(ban), std::move(answer.callback));
    return answer.promise.then([context](std::uint64_t kicked) mutable {
      context.getResults().setKicked(static_cast<std::uint32_t>(kicked));
    });
  }

  kj::Promise<void> unban(UnbanContext context) override {
    const std::string user = text(context.getParams().getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    auto answer = answer_from_caf<bool>();
    actors::unban_user(svc_, user, std::move(answer.callback));
    return answer.promise.then(
        [context](bool was_banned) mutable { context.getResults().setWasBanned(was_banned); });
  }

  kj::Promise<void> setProfile(SetProfileContext context) override {
    auto p = context.getParams();
    const std::string user = text(p.getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    const auto now =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    auto profile = actors::validate_profile(p.getProfile(), user, now);
    if (!profile) return app_exception(profile.error());
    auto answer = answer_from_caf<bool>();
    actors::set_profile_as_app(svc_, user, std::move(*profile), std::move(answer.callback));
    return answer.promise.then([](bool) {});
  }

  kj::Promise<void> getProfile(GetProfileContext context) override {
    const std::string user = text(context.getParams().getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    auto answer = answer_from_caf<std::string>();
    actors::profile_of(svc_, user, std::move(answer.callback));
    return answer.promise.then([context, user](std::string stored) mutable {
      auto out = context.getResults().initProfile();
      if (stored.empty()) {
        out.setUser(user);
        return;
      }
      auto words = schema::words_from_bytes(stored);
      auto reader = schema::read_frame(words, capnp::ReaderOptions());
      context.getResults().setProfile(reader.getRoot<wire::Profile>());
    });
  }

  kj::Promise<void> relate(RelateContext context) override {
    auto p = context.getParams();
    const std::string user = text(p.getUser());
    const std::string other = text(p.getOther());
    const std::string message = text(p.getMessage());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    if (auto err = actors::validate_relation(user, other, message)) return app_exception(err);
    const auto action = static_cast<std::uint16_t>(p.getAction());
    if (action > static_cast<std::uint16_t>(actors::relation_op::unblock)) {
      return refuse(errc::bad_request, "unknown relation action");
    }
    auto answer = answer_from_caf<std::uint16_t>();
    actors::relate_as_app(svc_, user, action, other, message, std::move(answer.callback));
    return answer.promise.then([context](std::uint16_t relation) mutable {
      context.getResults().setRelation(static_cast<wire::Relation>(relation));
    });
  }

 private:
  actors::services& svc_;
};

}  // namespace

kj::Own<app::Users::Server> make_users(actors::services& svc) {
  return kj::heap<users_impl>(svc);
}

}  // namespace parley::server::app_rpc
