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

/// Strict decimal: 1-12 digits, no sign, no leading zero (12 digits reach the year 33658, and
/// cannot overflow 64 bits).
std::optional<std::uint64_t> parse_expiry(const std::string& text) {
  if (text.empty() || text.size() > 12 || text[0] == '0') return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
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
      return {why, "the token version is not supported (want v1)"};
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
                                   std::chrono::system_clock::time_point now) const {
  if (!valid_token_ttl(ttl)) throw std::invalid_argument("token ttl out of range");
  const std::string payload = "v1." + user + "." + std::to_string(unix_seconds(now + ttl));
  return payload + "." + sign(payload);
}

result<token_claims> token_authority::verify(const std::string& token,
                                             std::chrono::system_clock::time_point now) const {
  if (token.size() > 1024) return refused(auth_errc::malformed);
  // Split from both ends: user names may contain dots.
  const auto first = token.find('.');
  const auto last = token.rfind('.');
  if (first == std::string::npos || last == first) return refused(auth_errc::malformed);
  const auto middle = token.rfind('.', last - 1);
  if (middle == std::string::npos || middle <= first) return refused(auth_errc::malformed);
  if (token.compare(0, first, "v1") != 0) return refused(auth_errc::unsupported_version);
  token_claims claims;
  claims.user = token.substr(first + 1, middle - first - 1);
  const std::string expiry = token.substr(middle + 1, last - middle - 1);
  const std::string signature = token.substr(last + 1);
  if (!valid_name(claims.user)) return refused(auth_errc::malformed);
  auto expires = parse_expiry(expiry);
  if (!expires) return refused(auth_errc::malformed);
  claims.expires_unix_s = *expires;
  const std::string expected = sign(token.substr(0, last));
  if (signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return refused(auth_errc::forged);
  }
  if (unix_seconds(now) >= claims.expires_unix_s) return refused(auth_errc::expired);
  // Signed by our secret but valid for longer than any token we issue: refused, so that a
  // leaked token of a misconfigured issuer does not live for a century.
  const auto horizon = static_cast<std::uint64_t>(max_token_ttl.count()) + max_clock_skew_s;
  if (claims.expires_unix_s - unix_seconds(now) > horizon) return refused(auth_errc::malformed);
  return claims;
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
