#include "parley/runtime/cluster_errc.hpp"

namespace parley::runtime {

namespace {

const char* cluster_code_name(std::uint8_t code) {
  switch (static_cast<cluster_errc>(code)) {
    case cluster_errc::etcd_unreachable:
      return "etcd_unreachable";
    case cluster_errc::etcd_bad_answer:
      return "etcd_bad_answer";
    case cluster_errc::etcd_not_started:
      return "etcd_not_started";
    case cluster_errc::map_conflict:
      return "map_conflict";
    case cluster_errc::bad_config:
      return "bad_config";
    case cluster_errc::certificate:
      return "certificate";
    case cluster_errc::cannot_listen:
      return "cannot_listen";
    case cluster_errc::peer_unreachable:
      return "peer_unreachable";
    case cluster_errc::not_owner:
      return "not_owner";
    case cluster_errc::move_failed:
      return "move_failed";
    case cluster_errc::unsupported:
      return "unsupported";
  }
  return "unknown";
}

bool cluster_retriable(std::uint8_t code) {
  switch (static_cast<cluster_errc>(code)) {
    case cluster_errc::etcd_unreachable:
    case cluster_errc::map_conflict:
    case cluster_errc::peer_unreachable:
    case cluster_errc::move_failed:
      return true;
    default:
      return false;
  }
}

constexpr error_category cluster_category{"cluster", &cluster_code_name, &cluster_retriable};

}  // namespace

const error_category& category_of(cluster_errc) {
  return cluster_category;
}

}  // namespace parley::runtime
