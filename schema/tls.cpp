#include "parley/schema/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <vector>

namespace parley::schema {

namespace {

/// Largest plaintext handed to SSL_write at once (one TLS record).
constexpr std::size_t record_bytes = 16 * 1024;
/// write() stops taking plaintext while this much ciphertext waits to be sent: the queue of
/// frames stays with the caller, where it is counted and bounded.
constexpr std::size_t max_output_bytes = 64 * 1024;

using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

ctx_ptr new_ctx(const SSL_METHOD* method) {
  ctx_ptr ctx(SSL_CTX_new(method), &SSL_CTX_free);
  if (!ctx) return ctx;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Renegotiation would let a peer make reads produce writes at any time; nobody needs it.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle connections keep no record buffers (~34 KiB each otherwise).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
  return ctx;
}

/// The first OpenSSL error as text (for the operator, at startup), and the queue cleared.
std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

const char* tls_code_name(std::uint8_t code) {
  switch (static_cast<tls_errc>(code)) {
    case tls_errc::no_context:
      return "no_context";
    case tls_errc::bad_certificate:
      return "bad_certificate";
    case tls_errc::bad_key:
      return "bad_key";
    case tls_errc::key_mismatch:
      return "key_mismatch";
    case tls_errc::bad_trust:
      return "bad_trust";
  }
  return "unknown";
}

bool never_retriable(std::uint8_t) {
  return false;
}

constexpr error_category tls_category{"tls", &tls_code_name, &never_retriable};

}  // namespace

const error_category& category_of(tls_errc) {
  return tls_category;
}

struct tls_context::impl {
  explicit impl(ctx_ptr c, bool server) : ctx(std::move(c)), is_server(server) {}
  ctx_ptr ctx;
  bool is_server;
};

tls_context::tls_context(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

bool tls_context::is_server() const {
  return impl_->is_server;
}

namespace {

/// Loads the certificate chain and its key into `ctx`.
error use_identity(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return {tls_errc::bad_certificate,
            "cannot load the TLS certificate " + cert_file + ": " + openssl_error()};
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    if (mismatch) {
      ERR_clear_error();
      return {tls_errc::key_mismatch,
              "the TLS key " + key_file + " does not match the certificate " + cert_file};
    }
    return {tls_errc::bad_key, "cannot load the TLS key " + key_file + ": " + openssl_error()};
  }
  return {};
}

/// Trusts `ca_file` (empty: the system's roots) and requires the peer's certificate (a server
/// always sends one; `mode` adds FAIL_IF_NO_PEER_CERT for a server checking clients).
error verify_peers(SSL_CTX* ctx, const std::string& ca_file, int mode) {
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                     : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return {tls_errc::bad_trust,
            "cannot load the trusted certificates " + ca_file + ": " + openssl_error()};
  }
  SSL_CTX_set_verify(ctx, mode, nullptr);
  return {};
}

}  // namespace

result<tls_context> tls_context::server(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  auto ctx = new_ctx(TLS_server_method());
  if (!ctx) return {tls_errc::no_context, "cannot create a TLS context: " + openssl_error()};
  if (auto e = use_identity(ctx.get(), cert_file, key_file)) return e;
  return tls_context(std::make_shared<impl>(std::move(ctx), true));
}

result<tls_context> tls_context::client(const std::string& ca_file) {
  ERR_clear_error();
  auto ctx = new_ctx(TLS_client_method());
  if (!ctx) return {tls_errc::no_context, "cannot create a TLS context: " + openssl_error()};
  if (auto e = verify_peers(ctx.get(), ca_file, SSL_VERIFY_PEER)) return e;
  return tls_context(std::make_shared<impl>(std::move(ctx), false));
}

result<tls_context> tls_context::mutual(bool server, const std::string& ca_file,
                                        const std::string& cert_file, const std::string& key_file) {
  if (ca_file.empty()) return {tls_errc::bad_trust, "mutual TLS needs a CA file"};
  ERR_clear_error();
  auto ctx = new_ctx(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return {tls_errc::no_context, "cannot create a TLS context: " + openssl_error()};
  if (auto e = use_identity(ctx.get(), cert_file, key_file)) return e;
  const int mode = server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER;
  if (auto e = verify_peers(ctx.get(), ca_file, mode)) return e;
  return tls_context(std::make_shared<impl>(std::move(ctx), server));
}

struct tls_engine::impl {
  SSL* ssl = nullptr;
  BIO* in = nullptr;                  // ciphertext from the peer (owned by ssl)
  BIO* out = nullptr;                 // ciphertext to the peer (owned by ssl)
  std::vector<std::uint8_t> pending;  // ciphertext taken from `out`, from `head` on
  std::size_t head = 0;
  bool failed = false;
  bool server = false;
  unsigned long first_error = 0;  // OpenSSL's code for the failure, for failure()

  /// Marks the engine failed, keeping the first queued error's code.
  void fail() {
    if (!failed) first_error = ERR_peek_error();
    ERR_clear_error();
    failed = true;
  }

  ~impl() {
    if (ssl) SSL_free(ssl);
  }
};

tls_engine::tls_engine(const tls_context& ctx, const std::string& host)
    : impl_(std::make_unique<impl>()) {
  auto& i = *impl_;
  i.ssl = SSL_new(ctx.impl_->ctx.get());
  i.in = BIO_new(BIO_s_mem());
  i.out = BIO_new(BIO_s_mem());
  if (!i.ssl || !i.in || !i.out) {
    if (i.in) BIO_free(i.in);
    if (i.out) BIO_free(i.out);
    i.failed = true;
    return;
  }
  // An empty memory BIO means "retry later", not end of stream.
  BIO_set_mem_eof_return(i.in, -1);
  BIO_set_mem_eof_return(i.out, -1);
  SSL_set_bio(i.ssl, i.in, i.out);
  i.server = ctx.is_server();
  if (i.server) {
    SSL_set_accept_state(i.ssl);
    return;
  }
  SSL_set_connect_state(i.ssl);
  if (!host.empty()) {
    in6_addr ignored;
    const bool is_ip = inet_pton(AF_INET, host.c_str(), &ignored) == 1 ||
                       inet_pton(AF_INET6, host.c_str(), &ignored) == 1;
    X509_VERIFY_PARAM* param = SSL_get0_param(i.ssl);
    const int named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                            : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (!is_ip) SSL_set_tlsext_host_name(i.ssl, host.c_str());
    if (named != 1) i.failed = true;
  }
}

tls_engine::~tls_engine() = default;
tls_engine::tls_engine(tls_engine&&) noexcept = default;
tls_engine& tls_engine::operator=(tls_engine&&) noexcept = default;

void tls_engine::feed(const void* data, std::size_t n) {
  if (n > 0 && !impl_->failed) BIO_write(impl_->in, data, static_cast<int>(n));
}

tls_engine::read_result tls_engine::read(void* out, std::size_t capacity) {
  auto& i = *impl_;
  if (i.failed) return {status::failed, 0};
  ERR_clear_error();
  const int r = SSL_read(i.ssl, out, static_cast<int>(std::min<std::size_t>(capacity, 1 << 30)));
  collect_output();
  if (r > 0) return {status::ok, static_cast<std::size_t>(r)};
  switch (SSL_get_error(i.ssl, r)) {
    case SSL_ERROR_WANT_READ:
      return {status::need_input, 0};
    case SSL_ERROR_ZERO_RETURN:
      return {status::closed, 0};
    default:
      i.fail();  // the reason is the peer's doing: kept for failure(), never sent
      return {status::failed, 0};
  }
}

tls_engine::status tls_engine::handshake() {
  auto& i = *impl_;
  if (i.failed) return status::failed;
  ERR_clear_error();
  const int r = SSL_do_handshake(i.ssl);
  collect_output();
  if (r == 1) return status::ok;
  if (SSL_get_error(i.ssl, r) == SSL_ERROR_WANT_READ) return status::need_input;
  i.fail();
  return status::failed;
}

std::string tls_engine::failure() const {
  const auto& i = *impl_;
  if (!i.ssl) return "cannot set up TLS";
  const long verdict = SSL_get_verify_result(i.ssl);
  if (verdict != X509_V_OK) {
    return std::string(i.server ? "the client's" : "the server's") +
           " certificate was refused: " + X509_verify_cert_error_string(verdict);
  }
  if (const char* reason = ERR_reason_error_string(i.first_error)) {
    return std::string("the TLS handshake failed: ") + reason;
  }
  return "the TLS handshake failed";
}

std::size_t tls_engine::write(const void* data, std::size_t n) {
  auto& i = *impl_;
  if (i.failed || !SSL_is_init_finished(i.ssl)) return 0;
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  std::size_t taken = 0;
  while (taken < n && output_size() < max_output_bytes) {
    ERR_clear_error();
    const int chunk = static_cast<int>(std::min(n - taken, record_bytes));
    const int r = SSL_write(i.ssl, bytes + taken, chunk);
    if (r <= 0) {
      if (SSL_get_error(i.ssl, r) != SSL_ERROR_WANT_READ) i.fail();
      ERR_clear_error();
      break;
    }
    taken += static_cast<std::size_t>(r);
    collect_output();
  }
  return taken;
}

void tls_engine::collect_output() {
  auto& i = *impl_;
  const std::size_t n = BIO_ctrl_pending(i.out);
  if (n == 0) return;
  if (i.head > 0 && i.head * 2 >= i.pending.size()) {  // sent bytes: drop them now
    i.pending.erase(i.pending.begin(), i.pending.begin() + static_cast<std::ptrdiff_t>(i.head));
    i.head = 0;
  }
  const std::size_t at = i.pending.size();
  i.pending.resize(at + n);
  const int got = BIO_read(i.out, i.pending.data() + at, static_cast<int>(n));
  i.pending.resize(at + static_cast<std::size_t>(std::max(got, 0)));
}

std::size_t tls_engine::output_size() const {
  return impl_->pending.size() - impl_->head;
}

const std::uint8_t* tls_engine::output_data() const {
  return impl_->pending.data() + impl_->head;
}

void tls_engine::consume_output(std::size_t n) {
  auto& i = *impl_;
  i.head += std::min(n, output_size());
  if (i.head == i.pending.size()) {
    // Give the memory back once sent: an idle connection keeps no output buffer.
    std::vector<std::uint8_t>().swap(i.pending);
    i.head = 0;
  }
}

bool tls_engine::handshake_done() const {
  return !impl_->failed && SSL_is_init_finished(impl_->ssl);
}

bool tls_engine::failed() const {
  return impl_->failed;
}

void tls_engine::close() {
  auto& i = *impl_;
  if (i.failed || !SSL_is_init_finished(i.ssl)) return;
  ERR_clear_error();
  SSL_shutdown(i.ssl);
  ERR_clear_error();
  collect_output();
}

}  // namespace parley::schema
