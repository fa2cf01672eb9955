#include "parley/runtime/errc.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace parley {

const char* to_string(errc code) {
  switch (code) {
    case errc::ok:
      return "ok";
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
  }
  return "unknown";
}

caf::atom_value error_category() {
  return caf::atom("parley");
}

caf::error make_error(errc code, std::string message) {
  return caf::error(static_cast<std::uint8_t>(code), error_category(),
                    caf::make_message(std::move(message)));
}

std::pair<errc, std::string> classify(const caf::error& err) {
  if (!err) return {errc::ok, {}};
  if (err.category() == error_category()) {
    std::string message;
    if (err.context().match_elements<std::string>()) message = err.context().get_as<std::string>(0);
    return {static_cast<errc>(err.code()), std::move(message)};
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return {errc::timeout, "request timed out"};
      case caf::sec::request_receiver_down:
      case caf::sec::remote_linking_failed:
        return {errc::unavailable, "the entity is not reachable, retry"};
      default:
        break;
    }
  }
  return {errc::internal, "internal error (" + std::to_string(err.code()) + ")"};
}

}  // namespace parley
