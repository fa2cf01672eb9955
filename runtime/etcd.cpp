#include "parley/runtime/etcd.hpp"

#include "parley/runtime/errc.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace parley::runtime {

namespace {

using json = nlohmann::json;

const std::string b64_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64(const std::string& in) {
  std::string out;
  unsigned val = 0;
  int bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(b64_chars[(val >> bits) & 0x3f]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(b64_chars[((val << 8) >> (bits + 8)) & 0x3f]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

std::string unb64(const std::string& in) {
  const std::string& chars = b64_chars;
  std::string out;
  unsigned val = 0;
  int bits = -8;
  for (unsigned char c : in) {
    const auto pos = chars.find(static_cast<char>(c));
    if (pos == std::string::npos) break;  // '=' padding ends the data
    val = (val << 6) + static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

std::int64_t as_int(const json& j, const char* field) {
  if (!j.contains(field)) return 0;
  const auto& v = j.at(field);
  return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<std::int64_t>();
}

etcd_kv to_kv(const json& j) {
  etcd_kv kv;
  kv.key = unb64(j.value("key", ""));
  kv.value = unb64(j.value("value", ""));
  kv.create_revision = as_int(j, "create_revision");
  kv.mod_revision = as_int(j, "mod_revision");
  kv.lease = as_int(j, "lease");
  return kv;
}

std::string prefix_end(std::string prefix) {
  for (auto i = prefix.size(); i-- > 0;) {
    auto& c = reinterpret_cast<unsigned char&>(prefix[i]);
    if (c < 0xff) {
      ++c;
      prefix.resize(i + 1);
      return prefix;
    }
  }
  return std::string(1, '\0');
}

}  // namespace

etcd_client::etcd_client(std::string endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

caf::expected<std::string> etcd_client::post(const std::string& path, const std::string& body) {
  httplib::Client http(endpoint_);
  http.set_connection_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout_).count(),
                              (timeout_.count() % 1000) * 1000);
  http.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout_).count(),
                        (timeout_.count() % 1000) * 1000);
  auto res = http.Post(path.c_str(), body, "application/json");
  if (!res) {
    return make_error(errc::unavailable, "etcd at " + endpoint_ + " unreachable (" +
                                             httplib::to_string(res.error()) + ")");
  }
  if (res->status != 200) {
    return make_error(errc::unavailable, "etcd " + path + " answered " +
                                             std::to_string(res->status) + ": " + res->body);
  }
  return res->body;
}

caf::expected<std::int64_t> etcd_client::grant_lease(std::chrono::seconds ttl) {
  auto r = post("/v3/lease/grant", json{{"TTL", ttl.count()}}.dump());
  if (!r) return r.error();
  return as_int(json::parse(*r), "ID");
}

caf::expected<std::int64_t> etcd_client::keep_alive(std::int64_t lease) {
  auto r = post("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
  if (!r) return r.error();
  auto j = json::parse(*r);
  if (!j.contains("result")) return std::int64_t{0};
  return as_int(j["result"], "TTL");
}

caf::error etcd_client::revoke(std::int64_t lease) {
  auto r = post("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
  return r ? caf::error{} : r.error();
}

caf::error etcd_client::put(const std::string& key, const std::string& value, std::int64_t lease) {
  json body{{"key", b64(key)}, {"value", b64(value)}};
  if (lease) body["lease"] = std::to_string(lease);
  auto r = post("/v3/kv/put", body.dump());
  return r ? caf::error{} : r.error();
}

caf::expected<std::optional<etcd_kv>> etcd_client::get(const std::string& key) {
  auto r = post("/v3/kv/range", json{{"key", b64(key)}}.dump());
  if (!r) return r.error();
  auto j = json::parse(*r);
  if (!j.contains("kvs") || j["kvs"].empty()) return std::optional<etcd_kv>{};
  return std::optional<etcd_kv>{to_kv(j["kvs"][0])};
}

caf::expected<std::vector<etcd_kv>> etcd_client::get_prefix(const std::string& prefix) {
  auto r = post("/v3/kv/range",
                json{{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))}}.dump());
  if (!r) return r.error();
  auto j = json::parse(*r);
  std::vector<etcd_kv> out;
  if (j.contains("kvs")) {
    for (auto& kv : j["kvs"]) out.push_back(to_kv(kv));
  }
  return out;
}

caf::error etcd_client::erase(const std::string& key) {
  auto r = post("/v3/kv/deleterange", json{{"key", b64(key)}}.dump());
  return r ? caf::error{} : r.error();
}

caf::expected<bool> etcd_client::put_if(const std::string& key, const std::string& value,
                                        std::int64_t mod_revision, std::int64_t lease) {
  json put{{"key", b64(key)}, {"value", b64(value)}};
  if (lease) put["lease"] = std::to_string(lease);
  json compare = mod_revision == 0 ? json{{"key", b64(key)},
                                          {"target", "CREATE"},
                                          {"result", "EQUAL"},
                                          {"create_revision", "0"}}
                                   : json{{"key", b64(key)},
                                          {"target", "MOD"},
                                          {"result", "EQUAL"},
                                          {"mod_revision", std::to_string(mod_revision)}};
  json txn{{"compare", json::array({compare})},
           {"success", json::array({json{{"request_put", put}}})}};
  auto r = post("/v3/kv/txn", txn.dump());
  if (!r) return r.error();
  auto j = json::parse(*r);
  return j.value("succeeded", false);
}

}  // namespace parley::runtime
