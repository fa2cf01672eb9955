#pragma once
// A small synchronous client for etcd 3.4's v3 JSON gateway (HTTP POST /v3/...): leases,
// puts, ranges and single-compare transactions — all the cluster needs. Keys and values are
// base64 in the gateway's JSON; this class hides that.
//
// Thread safety: every method may be called from any thread (each call uses its own HTTP
// connection). Calls block for at most `timeout`.

#include "parley/runtime/cluster_tls.hpp"

#include "parley/runtime/cluster_errc.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace parley::runtime {

/// One key with its metadata.
struct etcd_kv {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;
};

/// See the file comment. Errors are cluster errors: etcd_unreachable (retriable) or
/// etcd_bad_answer.
class etcd_client {
 public:
  /// `endpoint` like "http://127.0.0.1:2379", or "https://..." with `tls`: the CA that signed
  /// etcd's certificate and, when etcd checks clients (--client-cert-auth), this client's
  /// certificate and key (ca_file alone: server verification only).
  explicit etcd_client(std::string endpoint,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(2000),
                       tls_identity tls = {});

  /// Grants a lease; returns its id.
  result<std::int64_t> grant_lease(std::chrono::seconds ttl);
  /// Refreshes a lease; returns its remaining TTL in seconds (0: it has expired).
  result<std::int64_t> keep_alive(std::int64_t lease);
  /// Revokes a lease (its keys disappear).
  error revoke(std::int64_t lease);

  error put(const std::string& key, const std::string& value, std::int64_t lease = 0);
  result<std::optional<etcd_kv>> get(const std::string& key);
  result<std::vector<etcd_kv>> get_prefix(const std::string& prefix);
  error erase(const std::string& key);

  /// Puts `value` only if `key`'s mod revision is `mod_revision` (0: only if absent).
  /// Returns whether the put happened.
  result<bool> put_if(const std::string& key, const std::string& value, std::int64_t mod_revision,
                      std::int64_t lease = 0);

  const std::string& endpoint() const { return endpoint_; }

 private:
  result<std::string> post(const std::string& path, const std::string& body);
  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  tls_identity tls_;
};

/// A watch on a key or a key prefix (the gateway's streaming POST /v3/watch), on its own thread.
/// Calls `on_change()` from that thread once the watch is established (so the caller re-reads:
/// nothing that changed before is missed) and after every batch of events. A broken stream is
/// re-established (100 ms back-off), again followed by `on_change()`. The destructor ends it.
class etcd_watch {
 public:
  etcd_watch(std::string endpoint, std::string key, bool prefix, std::function<void()> on_change,
             tls_identity tls = {});
  ~etcd_watch();
  etcd_watch(const etcd_watch&) = delete;
  etcd_watch& operator=(const etcd_watch&) = delete;

  /// Watch streams established so far (1 after the first; more after reconnects).
  std::size_t established() const;

 private:
  struct stream;
  void run();

  const std::string endpoint_;
  const tls_identity tls_;
  const std::string request_;
  const std::function<void()> on_change_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::size_t established_ = 0;
  stream* current_ = nullptr;  // the open HTTP stream, to interrupt it on stop
  std::thread thread_;
};

}  // namespace parley::runtime
