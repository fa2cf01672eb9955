#include "parley/runtime/etcd.hpp"

#include "parley/store/keys.hpp"

#include "parley/runtime/cluster_errc.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <mutex>

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

/// Decodes etcd's answer to `path` with `decode`. An answer that is not JSON, or not of the
/// shape `decode` expects (a missing object, another type, a number that does not parse), is
/// an error, never an exception out of this module: whatever answers on etcd's port cannot
/// end a node's thread.
template <class Decode>
auto decode_answer(const result<std::string>& answer, const std::string& path, Decode decode)
    -> result<decltype(decode(std::declval<const json&>()))> {
  if (!answer) return answer.error();
  const auto j = json::parse(*answer, nullptr, false);
  if (j.is_object()) {
    try {
      return decode(j);
    } catch (const std::exception&) {  // json's type errors, std::stoll's
    }
  }
  return {cluster_errc::etcd_bad_answer, "etcd's answer to " + path + " was not understood"};
}

/// etcd's range end for every key starting with `prefix`: the store's bound, except that
/// etcd spells "no upper bound" as "\0".
std::string prefix_end(const std::string& prefix) {
  auto end = store::prefix_end(prefix);
  return end.empty() ? std::string(1, '\0') : end;
}

/// An HTTP client of `endpoint`; for https, verifying etcd's certificate against tls.ca_file
/// and presenting tls.cert_file / key_file when given.
std::unique_ptr<httplib::Client> http_client(const std::string& endpoint, const tls_identity& tls) {
  if (endpoint.rfind("https://", 0) == 0) {
    // OpenSSL writes to the socket with write(), which raises SIGPIPE when etcd has closed the
    // connection (it does after refusing a certificate): that would kill the process. A
    // server never wants SIGPIPE; the failed write then shows up as an error instead.
    static std::once_flag ignore_sigpipe;
    std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  }
  auto http = tls.cert_file.empty()
                  ? std::make_unique<httplib::Client>(endpoint)
                  : std::make_unique<httplib::Client>(endpoint, tls.cert_file, tls.key_file);
  if (!tls.ca_file.empty()) http->set_ca_cert_path(tls.ca_file.c_str());
  http->enable_server_certificate_verification(true);
  return http;
}

}  // namespace

etcd_client::etcd_client(std::string endpoint, std::chrono::milliseconds timeout, tls_identity tls)
    : endpoint_(std::move(endpoint)), timeout_(timeout), tls_(std::move(tls)) {}

result<std::string> etcd_client::post(const std::string& path, const std::string& body) {
  auto client = http_client(endpoint_, tls_);
  auto& http = *client;
  http.set_connection_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout_).count(),
                              (timeout_.count() % 1000) * 1000);
  http.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout_).count(),
                        (timeout_.count() % 1000) * 1000);
  auto res = http.Post(path.c_str(), body, "application/json");
  if (!res) {
    return {cluster_errc::etcd_unreachable,
            "etcd at " + endpoint_ + " unreachable (" + httplib::to_string(res.error()) + ")"};
  }
  if (res->status != 200) {
    return {cluster_errc::etcd_unreachable,
            "etcd " + path + " answered " + std::to_string(res->status) + ": " + res->body};
  }
  return res->body;
}

result<std::int64_t> etcd_client::grant_lease(std::chrono::seconds ttl) {
  const std::string path = "/v3/lease/grant";
  return decode_answer(post(path, json{{"TTL", ttl.count()}}.dump()), path,
                       [](const json& j) { return as_int(j, "ID"); });
}

result<std::int64_t> etcd_client::keep_alive(std::int64_t lease) {
  const std::string path = "/v3/lease/keepalive";
  return decode_answer(
      post(path, json{{"ID", std::to_string(lease)}}.dump()), path, [](const json& j) {
        return j.contains("result") ? as_int(j.at("result"), "TTL") : std::int64_t{0};
      });
}

error etcd_client::revoke(std::int64_t lease) {
  auto r = post("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
  return r ? error{} : r.error();
}

error etcd_client::put(const std::string& key, const std::string& value, std::int64_t lease) {
  json body{{"key", b64(key)}, {"value", b64(value)}};
  if (lease) body["lease"] = std::to_string(lease);
  auto r = post("/v3/kv/put", body.dump());
  return r ? error{} : r.error();
}

result<std::optional<etcd_kv>> etcd_client::get(const std::string& key) {
  const std::string path = "/v3/kv/range";
  return decode_answer(post(path, json{{"key", b64(key)}}.dump()), path, [](const json& j) {
    if (!j.contains("kvs") || j.at("kvs").empty()) return std::optional<etcd_kv>{};
    return std::optional<etcd_kv>{to_kv(j.at("kvs").at(0))};
  });
}

result<std::vector<etcd_kv>> etcd_client::get_prefix(const std::string& prefix) {
  const std::string path = "/v3/kv/range";
  const auto body = json{{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))}}.dump();
  return decode_answer(post(path, body), path, [](const json& j) {
    std::vector<etcd_kv> out;
    if (j.contains("kvs")) {
      for (auto& kv : j.at("kvs")) out.push_back(to_kv(kv));
    }
    return out;
  });
}

error etcd_client::erase(const std::string& key) {
  auto r = post("/v3/kv/deleterange", json{{"key", b64(key)}}.dump());
  return r ? error{} : r.error();
}

result<bool> etcd_client::put_if(const std::string& key, const std::string& value,
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
  const std::string path = "/v3/kv/txn";
  return decode_answer(post(path, txn.dump()), path,
                       [](const json& j) { return j.value("succeeded", false); });
}

struct etcd_watch::stream {
  stream(const std::string& endpoint, const tls_identity& tls)
      : client(http_client(endpoint, tls)), http(*client) {}
  std::unique_ptr<httplib::Client> client;
  httplib::Client& http;
};

etcd_watch::etcd_watch(std::string endpoint, std::string key, bool prefix,
                       std::function<void()> on_change, tls_identity tls)
    : endpoint_(std::move(endpoint)),
      tls_(std::move(tls)),
      request_([&] {
        json create{{"key", b64(key)}};
        if (prefix) create["range_end"] = b64(prefix_end(key));
        return json{{"create_request", create}}.dump();
      }()),
      on_change_(std::move(on_change)) {
  thread_ = std::thread([this] { run(); });
}

etcd_watch::~etcd_watch() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    stopping_ = true;
    if (current_) current_->http.stop();  // interrupts the blocking read
  }
  cv_.notify_all();
  thread_.join();
}

std::size_t etcd_watch::established() const {
  std::lock_guard<std::mutex> guard(mu_);
  return established_;
}

void etcd_watch::run() {
  for (;;) {
    stream s(endpoint_, tls_);
    s.http.set_connection_timeout(2, 0);
    s.http.set_read_timeout(3600, 0);  // an idle watch is silent; stop() interrupts it
    {
      std::lock_guard<std::mutex> guard(mu_);
      if (stopping_) return;
      current_ = &s;
    }
    std::string pending;  // the gateway sends one JSON object per line
    httplib::Request req;
    req.method = "POST";
    req.path = "/v3/watch";
    req.body = request_;
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, std::size_t len, std::uint64_t, std::uint64_t) {
      pending.append(data, len);
      for (auto eol = pending.find('\n'); eol != std::string::npos; eol = pending.find('\n')) {
        auto j = json::parse(pending.substr(0, eol), nullptr, false);
        pending.erase(0, eol + 1);
        bool created = false, changed = false;
        try {
          if (!j.is_object() || !j.contains("result")) continue;
          const auto& result = j.at("result");
          created = result.value("created", false);
          changed = result.contains("events") && !result.at("events").empty();
        } catch (const json::exception&) {
          continue;  // a line not of the expected shape: ignored (the resync reads anyway)
        }
        if (created) {
          std::lock_guard<std::mutex> guard(mu_);
          ++established_;
        }
        if (created || changed) on_change_();
      }
      std::lock_guard<std::mutex> guard(mu_);
      return !stopping_;
    };
    s.http.send(req);  // returns when the stream breaks or is stopped
    std::unique_lock<std::mutex> lock(mu_);
    current_ = nullptr;
    if (cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; })) return;
  }
}

}  // namespace parley::runtime
