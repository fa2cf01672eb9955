#include "parley/runtime/errc.hpp"

#include "parley/runtime/cluster_errc.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/tls.hpp"
#include "parley/store/status.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

#include <array>

namespace parley {

const char* to_string(errc code) {
  switch (code) {
    case errc::bad_request:
      return "bad_request";
    case errc::malformed_frame:
      return "malformed_frame";
    case errc::frame_too_large:
      return "frame_too_large";
    case errc::not_authenticated:
      return "not_authenticated";
    case errc::token_invalid:
      return "token_invalid";
    case errc::token_expired:
      return "token_expired";
    case errc::not_member:
      return "not_member";
    case errc::not_found:
      return "not_found";
    case errc::forbidden:
      return "forbidden";
    case errc::already_exists:
      return "already_exists";
    case errc::unavailable:
      return "unavailable";
    case errc::internal:
      return "internal";
    case errc::already_logged_in:
      return "already_logged_in";
    case errc::unsupported:
      return "unsupported";
    case errc::timeout:
      return "timeout";
    case errc::rate_limited:
      return "rate_limited";
    case errc::limit_exceeded:
      return "limit_exceeded";
    case errc::banned:
      return "banned";
    case errc::token_revoked:
      return "token_revoked";
    case errc::rejected:
      return "rejected";
  }
  return "unknown";
}

namespace {

const char* request_code_name(std::uint8_t code) {
  return to_string(static_cast<errc>(code));
}

bool request_retriable(std::uint8_t code) {
  switch (static_cast<errc>(code)) {
    case errc::unavailable:
    case errc::internal:
    case errc::timeout:
    case errc::rate_limited:
      return true;
    default:
      return false;
  }
}

constexpr error_category request_category{"request", &request_code_name, &request_retriable};

/// Every category an error crossing an actor boundary can have: the modules at or below the
/// runtime (the entities use the request category).
const std::array<const error_category*, 5>& known_categories() {
  static const std::array<const error_category*, 5> all{
      &request_category, &category_of(store::errc{}), &category_of(runtime::cluster_errc{}),
      &category_of(runtime::auth_errc{}), &category_of(schema::tls_errc{})};
  return all;
}

}  // namespace

const error_category& category_of(errc) {
  return request_category;
}

caf::error to_caf(const error& err) {
  if (!err) return {};
  return caf::error(err.code(), caf::atom_from_string(err.category()->name),
                    caf::make_message(err.message()));
}

caf::error make_error(errc code, std::string message) {
  return to_caf(error(code, std::move(message)));
}

error from_caf(const caf::error& err) {
  if (!err) return {};
  std::string message;
  if (err.context().match_elements<std::string>()) message = err.context().get_as<std::string>(0);
  for (const auto* category : known_categories()) {
    if (err.category() == caf::atom_from_string(category->name)) {
      return error(*category, err.code(), std::move(message));
    }
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return error(errc::timeout, "request timed out");
      case caf::sec::request_receiver_down:
      case caf::sec::remote_linking_failed:
        return error(errc::unavailable, "the entity is not reachable, retry");
      default:
        break;
    }
  }
  // A request error's message reaches the client: CAF's own words stay out of it.
  return error(errc::internal, "internal error");
}

}  // namespace parley
