// Tokens: issue (signed here, on the kj thread) and revoke (the user's presence actor).

#include "capabilities.hpp"
#include "support.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/ids.hpp"

#include "client.capnp.h"

#include <capnp/schema.h>

namespace parley::server::app_rpc {

namespace {

using schema::text;

class tokens_impl final : public app::Tokens::Server {
 public:
  explicit tokens_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> issue(IssueContext context) override {
    auto p = context.getParams();
    const std::string user = text(p.getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    const std::chrono::seconds ttl(p.getTtlSeconds());
    if (!runtime::valid_token_ttl(ttl)) {
      return refuse(errc::bad_request, "ttlSeconds must be 1 s to 400 days");
    }
    std::optional<std::uint16_t> device_type;
    if (p.getDeviceType() != -1) {
      if (!known_device_type(p.getDeviceType())) {
        return refuse(errc::bad_request, "deviceType must be -1 (any) or a DeviceType");
      }
      device_type = static_cast<std::uint16_t>(p.getDeviceType());
    }
    const auto now = std::chrono::system_clock::now();
    auto r = context.getResults();
    r.setToken(svc_.tokens->issue(user, ttl, now, device_type));
    r.setExpiresUnixS(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>((now + ttl).time_since_epoch()).count()));
    return kj::READY_NOW;
  }

  kj::Promise<void> revoke(RevokeContext context) override {
    const std::string user = text(context.getParams().getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    auto answer = answer_from_caf<std::uint64_t>();
    actors::revoke_tokens(svc_, user, std::move(answer.callback));
    return answer.promise.then([context](std::uint64_t kicked) mutable {
      context.getResults().setKicked(static_cast<std::uint32_t>(kicked));
    });
  }

 private:
  /// Whether `type` is one of client.capnp's DeviceType enumerants.
  static bool known_device_type(std::int32_t type) {
    const auto enumerants = capnp::Schema::from<wire::DeviceType>().getEnumerants();
    return type >= 0 && static_cast<std::uint32_t>(type) < enumerants.size();
  }

  actors::services& svc_;
};

}  // namespace

kj::Own<app::Tokens::Server> make_tokens(actors::services& svc) {
  return kj::heap<tokens_impl>(svc);
}

}  // namespace parley::server::app_rpc
