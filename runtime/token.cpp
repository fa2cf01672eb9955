#include "parley/runtime/token.hpp"

#include "parley/runtime/entity_id.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace parley::runtime {

namespace {

constexpr std::size_t secret_bytes = 32;

std::string to_hex(const unsigned char* data, std::size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0xf]);
  }
  return out;
}

std::uint64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

/// Clocks of the issuing app server and the node may differ by this much.
constexpr std::uint64_t max_clock_skew_s = 3600;

/// Strict decimal: 1-16 digits, no sign, no leading zero (16 digits reach the year 2286 in
/// microseconds, and cannot overflow 64 bits).
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > 16 || text[0] == '0') return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

constexpr std::int32_t any_device = -1;
constexpr std::int32_t bad_device = -2;

/// A device type field: "*" (any_device) or a DeviceType number below 2^16 ("0" allowed);
/// bad_device otherwise.
std::int32_t parse_device_type(std::string_view text) {
  if (text == "*") return any_device;
  if (text == "0") return 0;
  auto n = parse_decimal(text);
  if (!n || *n > UINT16_MAX) return bad_device;
  return static_cast<std::int32_t>(*n);
}

/// Splits `text` at its last `n` dots: the head (which may hold dots: user names may) and `n`
/// fields. Nothing if there are fewer dots.
std::optional<std::vector<std::string_view>> split_tail(std::string_view text, std::size_t n) {
  std::vector<std::string_view> parts(n + 1);
  std::size_t end = text.size();
  for (std::size_t i = n; i > 0; --i) {
    if (end == 0) return std::nullopt;
    const auto dot = text.rfind('.', end - 1);
    if (dot == std::string_view::npos) return std::nullopt;
    parts[i] = text.substr(dot + 1, end - dot - 1);
    end = dot;
  }
  parts[0] = text.substr(0, end);
  return parts;
}

/// Whether `got` is `expected`, in constant time.
bool same_signature(std::string_view got, const std::string& expected) {
  return got.size() == expected.size() &&
         CRYPTO_memcmp(got.data(), expected.data(), expected.size()) == 0;
}

std::string describe_errno(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return path + " does not exist (a node creates it when it first opens its data dir)";
    case EACCES:
    case EPERM:
      return "no permission to read " + path;
    case ELOOP:
      return path + " is a symbolic link loop";
    default:
      return "cannot read " + path + ": " + std::strerror(err);
  }
}

}  // namespace

namespace {

const char* auth_code_name(std::uint8_t code) {
  switch (static_cast<auth_errc>(code)) {
    case auth_errc::malformed:
      return "malformed";
    case auth_errc::forged:
      return "forged";
    case auth_errc::expired:
      return "expired";
    case auth_errc::unsupported_version:
      return "unsupported_version";
    case auth_errc::no_secret:
      return "no_secret";
    case auth_errc::wrong_device:
      return "wrong_device";
  }
  return "unknown";
}

bool never_retriable(std::uint8_t) {
  return false;
}

constexpr error_category auth_category{"auth", &auth_code_name, &never_retriable};

error refused(auth_errc why) {
  switch (why) {
    case auth_errc::malformed:
      return {why, "the token is malformed"};
    case auth_errc::forged:
      return {why, "the token signature is invalid"};
    case auth_errc::expired:
      return {why, "the token has expired"};
    case auth_errc::unsupported_version:
      return {why, "the token version is not supported (want v2)"};
    case auth_errc::wrong_device:
      return {why, "the token is for another device type"};
    case auth_errc::no_secret:
      break;
  }
  return {auth_errc::malformed, "the token is invalid"};
}

}  // namespace

const error_category& category_of(auth_errc) {
  return auth_category;
}

token_authority::token_authority(std::string secret) : secret_(std::move(secret)) {}

bool token_authority::is_secret(const std::string& candidate) const {
  return candidate.size() == secret_.size() &&
         CRYPTO_memcmp(candidate.data(), secret_.data(), secret_.size()) == 0;
}

std::string token_authority::sign(const std::string& payload) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  return to_hex(mac, len);
}

std::string token_authority::issue(const std::string& user, std::chrono::seconds ttl,
                                   std::chrono::system_clock::time_point now,
                                   std::optional<std::uint16_t> device_type) const {
  if (!valid_token_ttl(ttl)) throw std::invalid_argument("token ttl out of range");
  const auto issued_us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::string payload = "v2." + user + "." + std::to_string(issued_us) + "." +
                              std::to_string(unix_seconds(now + ttl)) + "." +
                              (device_type ? std::to_string(*device_type) : std::string("*"));
  return payload + "." + sign(payload);
}

error token_claims::admits_device(std::uint16_t type) const {
  if (device_type && *device_type != type) return refused(auth_errc::wrong_device);
  return {};
}

result<token_claims> token_authority::verify(const std::string& token,
                                             std::chrono::system_clock::time_point now) const {
  if (token.size() > 1024) return refused(auth_errc::malformed);
  const auto dot = token.find('.');
  if (dot == std::string::npos) return refused(auth_errc::malformed);
  const auto version = std::string_view(token).substr(0, dot);
  if (version != "v1" && version != "v2") return refused(auth_errc::unsupported_version);
  // v1: <user>.<expires>.<mac>; v2: <user>.<issued>.<expires>.<device type>.<mac>. Split from
  // the end: user names may contain dots.
  const bool v1 = version == "v1";
  auto parts = split_tail(std::string_view(token).substr(dot + 1), v1 ? 2 : 4);
  if (!parts) return refused(auth_errc::malformed);
  const auto& f = *parts;
  token_claims claims;
  claims.user = std::string(f[0]);
  if (!valid_name(claims.user)) return refused(auth_errc::malformed);
  auto expires = parse_decimal(f[v1 ? 1 : 2]);
  if (!expires) return refused(auth_errc::malformed);
  claims.expires_unix_s = *expires;
  if (!v1) {
    auto issued = parse_decimal(f[1]);
    const std::int32_t device = parse_device_type(f[3]);
    if (!issued || device == bad_device) return refused(auth_errc::malformed);
    claims.issued_unix_us = *issued;
    if (device != any_device) claims.device_type = static_cast<std::uint16_t>(device);
  }
  const std::string_view signature = f.back();
  if (!same_signature(signature, sign(token.substr(0, token.size() - signature.size() - 1)))) {
    return refused(auth_errc::forged);
  }
  const std::uint64_t now_s = unix_seconds(now);
  if (now_s >= claims.expires_unix_s) return refused(auth_errc::expired);
  // Signed by our secret but valid for longer than any token we issue (or issued in the
  // future): refused, so that a leaked token of a misconfigured issuer does not live for a
  // century.
  const auto horizon = static_cast<std::uint64_t>(max_token_ttl.count()) + max_clock_skew_s;
  if (claims.expires_unix_s - now_s > horizon) return refused(auth_errc::malformed);
  if (claims.issued_unix_us / 1000000 > now_s + max_clock_skew_s) {
    return refused(auth_errc::malformed);
  }
  return claims;
}

std::string token_authority::issue_operator(std::chrono::seconds ttl,
                                            std::chrono::system_clock::time_point now) const {
  if (ttl.count() <= 0 || ttl > max_operator_ttl) {
    throw std::invalid_argument("operator token ttl out of range");
  }
  const auto issued_us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::string payload =
      "op1." + std::to_string(issued_us) + "." + std::to_string(unix_seconds(now + ttl));
  return payload + "." + sign(payload);
}

error token_authority::verify_operator(const std::string& token,
                                       std::chrono::system_clock::time_point now) const {
  constexpr std::string_view prefix = "op1.";
  if (token.size() > 256) return refused(auth_errc::malformed);
  if (token.compare(0, prefix.size(), prefix) != 0) return refused(auth_errc::unsupported_version);
  auto parts = split_tail(std::string_view(token).substr(prefix.size()), 2);
  if (!parts) return refused(auth_errc::malformed);
  const auto& f = *parts;
  const auto issued_us = parse_decimal(f[0]);
  const auto expires = parse_decimal(f[1]);
  if (!issued_us || !expires) return refused(auth_errc::malformed);
  const std::string_view signature = f.back();
  if (!same_signature(signature, sign(token.substr(0, token.size() - signature.size() - 1)))) {
    return refused(auth_errc::forged);
  }
  const std::uint64_t now_s = unix_seconds(now);
  if (now_s >= *expires) return refused(auth_errc::expired);
  const auto horizon = static_cast<std::uint64_t>(max_operator_ttl.count()) + max_clock_skew_s;
  if (*expires - now_s > horizon || *issued_us / 1000000 > now_s + max_clock_skew_s) {
    return refused(auth_errc::malformed);
  }
  return {};
}

result<std::string> load_secret(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {auth_errc::no_secret, describe_errno(path, errno)};
  struct stat st {};
  std::string secret(secret_bytes, '\0');
  ssize_t n = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::size_t>(st.st_size) == secret_bytes) {
    n = ::read(fd, secret.data(), secret_bytes);
  }
  const int read_errno = errno;
  ::close(fd);
  if (!S_ISREG(st.st_mode)) return {auth_errc::no_secret, path + " is not a regular file"};
  if (static_cast<std::size_t>(st.st_size) != secret_bytes) {
    return {auth_errc::no_secret,
            path + " does not hold a " + std::to_string(secret_bytes) + "-byte secret"};
  }
  if (n != static_cast<ssize_t>(secret_bytes)) {
    return {auth_errc::no_secret,
            n < 0 ? describe_errno(path, read_errno) : path + " changed while being read"};
  }
  return secret;
}

result<std::string> load_or_create_secret(const std::string& path) {
  std::string secret(secret_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), secret_bytes) != 1) {
    return {auth_errc::no_secret, "no randomness for the secret"};
  }
  // O_EXCL: two processes creating a data dir at once must not both win with different
  // secrets; it also refuses to follow a symbolic link, dangling or not. Whatever exists at
  // the path is then read once, with a clear error if it cannot be (no retry loop).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno != EEXIST) {
      return {auth_errc::no_secret, "cannot create " + path + ": " + std::strerror(errno)};
    }
    // It exists, yet reading says it does not: a dangling symbolic link.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && ::stat(path.c_str(), &st) != 0 &&
        errno == ENOENT) {
      return {auth_errc::no_secret, path + " is a dangling symbolic link"};
    }
    return load_secret(path);
  }
  const bool ok =
      ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return {auth_errc::no_secret, "cannot write " + path};
  return secret;
}

}  // namespace parley::runtime
