#include "parley/server/errc.hpp"

namespace parley::server {

namespace {

const char* node_code_name(std::uint8_t code) {
  switch (static_cast<node_errc>(code)) {
    case node_errc::bad_config:
      return "bad_config";
    case node_errc::cannot_listen:
      return "cannot_listen";
  }
  return "unknown";
}

bool never_retriable(std::uint8_t) {
  return false;
}

constexpr error_category node_category{"node", &node_code_name, &never_retriable};

}  // namespace

const error_category& category_of(node_errc) {
  return node_category;
}

}  // namespace parley::server
