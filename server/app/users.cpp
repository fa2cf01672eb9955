// Users: sessions, kick, ban and unban, all answered by the user's presence actor (the shard's
// actor that holds its sessions and the app's access record of it).

#include "capabilities.hpp"
#include "support.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/actors/validation.hpp"
#include "parley/schema/ids.hpp"

namespace parley::server::app_rpc {

namespace {

using schema::text;

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

 private:
  actors::services& svc_;
};

}  // namespace

kj::Own<app::Users::Server> make_users(actors::services& svc) {
  return kj::heap<users_impl>(svc);
}

}  // namespace parley::server::app_rpc
