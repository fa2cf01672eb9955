#include "parley/runtime/cluster_layout.hpp"

#include <nlohmann/json.hpp>

namespace parley::runtime {

namespace {

using json = nlohmann::json;

/// The JSON object in `text`, or a discarded value (not an object, not JSON).
json object_in(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json(json::value_t::discarded);
}

/// Reads field `name` of object `j` into `out` if it has that type; false otherwise.
template <class T>
bool read(const json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it == j.end()) return false;
  try {
    out = it->get<T>();
    return true;
  } catch (const json::exception&) {  // the library's way to say "another type"
    return false;
  }
}

}  // namespace

std::string encode_node_info(const node_info& n) {
  return json{{"id", n.id},
              {"host", n.host},
              {"cluster_port", n.cluster_port},
              {"client_port", n.client_port},
              {"incarnation", n.incarnation},
              {"http", n.http}}
      .dump();
}

std::optional<node_info> decode_node_info(const std::string& text) {
  const auto j = object_in(text);
  node_info n;
  if (j.is_discarded() || !read(j, "id", n.id) || n.id.empty()) return std::nullopt;
  read(j, "host", n.host);
  read(j, "cluster_port", n.cluster_port);
  read(j, "client_port", n.client_port);
  read(j, "incarnation", n.incarnation);
  read(j, "http", n.http);
  return n;
}

std::string encode_shard_map(const stored_shard_map& m) {
  return json{{"epoch", m.epoch}, {"shard_count", m.owners.size()}, {"owners", m.owners}}.dump();
}

std::optional<stored_shard_map> decode_shard_map(const std::string& text) {
  const auto j = object_in(text);
  stored_shard_map m;
  if (j.is_discarded() || !read(j, "epoch", m.epoch) || !read(j, "owners", m.owners)) {
    return std::nullopt;
  }
  return m;
}

}  // namespace parley::runtime
