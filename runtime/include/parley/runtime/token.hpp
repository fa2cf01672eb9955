#pragma once
// Login tokens issued by the app server (or `imctl token issue`).
//
//   v1.<user>.<expires unix seconds>.<hex HMAC-SHA256(secret, "v1.<user>.<expires>")>
//
// The algorithm is pinned by the version prefix: there is no algorithm field a client could
// change, and any other prefix is refused. The secret is 32 random bytes created with the data
// dir (file "secret", mode 0600); every node of a cluster shares it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace parley::runtime {

/// Why a token was refused.
enum class token_error {
  malformed,            ///< Not four dot-separated parts, bad number, or an invalid user id.
  forged,               ///< The signature does not match (wrong secret or altered content).
  expired,              ///< Valid signature, but the expiry has passed.
  unsupported_version,  ///< Another version prefix than v1.
};

/// Human-readable reason.
const char* describe(token_error e);

/// What a valid token says.
struct token_claims {
  std::string user;                ///< The user it authenticates.
  std::uint64_t expires_unix_s{};  ///< When it stops being accepted.
};

/// Issues and verifies tokens with one secret. Immutable after construction; thread-safe.
class token_authority {
 public:
  explicit token_authority(std::string secret);

  /// A token for `user` valid for `ttl` from `now`. `user` must be a valid name.
  std::string issue(
      const std::string& user, std::chrono::seconds ttl,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  /// Checks signature and expiry.
  std::variant<token_claims, token_error> verify(
      const std::string& token,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  std::string sign(const std::string& payload) const;
  std::string secret_;
};

/// Reads the secret at `path`, creating it (32 random bytes, mode 0600) if missing.
/// Returns nullopt and sets `error` on failure.
std::optional<std::string> load_or_create_secret(const std::string& path, std::string& error);

}  // namespace parley::runtime
