#include "support.hpp"

namespace parley::server::app_rpc {

kj::Exception app_exception(const error& err) {
  const auto wire = actors::to_wire(err);
  const std::string code = to_string(static_cast<errc>(wire.code));
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::str(code.c_str(), ": ", wire.message.c_str()));
}

}  // namespace parley::server::app_rpc
