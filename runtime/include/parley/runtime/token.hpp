#pragma once
// Login tokens issued by the app server (or `imctl token issue`).
//
//   v2.<user>.<issued unix µs>.<expires unix s>.<device type>.<hex HMAC-SHA256 of the rest>
//
// `device type` is a wire DeviceType number (the token logs in only as that type) or "*" (any).
// The issue time lets an app revoke every token of a user issued before a moment (the presence
// actor keeps that moment, actors/presence/presence.cpp). Tokens of the first format,
// v1.<user>.<expires unix s>.<hmac>, are still accepted until they expire; they carry no issue
// time, so a revocation of their user refuses them all.
//
// The algorithm is pinned by the version prefix: there is no algorithm field a client could
// change, and any other prefix is refused. The secret is 32 random bytes created with the data
// dir (file "secret", mode 0600); every node of a cluster shares it.
//
// Expiries are bounded: a token lives at most max_token_ttl, so issuing refuses longer TTLs
// and verifying refuses an expiry further ahead than that (such a token was not issued here,
// or was issued with a clock far in the future); an issue time more than the allowed clock skew
// ahead is refused too. Numbers are parsed strictly: decimal digits, no sign, no leading zero,
// at most 16 digits, so no overflow is possible.
//
// Operator tokens open the HTTP port's admin API (the admin page) to an operator:
//
//   op1.<issued unix µs>.<expires unix s>.<hex HMAC-SHA256 of the rest>
//
// signed with the same secret but under their own prefix, so a user token never passes as an
// operator token nor the reverse; they live at most max_operator_ttl.

#include "parley/schema/error.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace parley::runtime {

/// Why a token was refused or the secret is unusable (category "auth"; none is retriable).
enum class auth_errc : std::uint8_t {
  malformed = 1,        ///< Not four dot-separated parts, bad number, or an invalid user id.
  forged,               ///< The signature does not match (wrong secret or altered content).
  expired,              ///< Valid signature, but the expiry has passed.
  unsupported_version,  ///< Another version prefix than v1 or v2.
  no_secret,            ///< The secret file is missing, unreadable or not a secret.
  wrong_device,         ///< Valid, but bound to another device type than the login's.
};

const error_category& category_of(auth_errc);

/// The longest validity a token may have: 400 days (a year plus slack for an app's renewal).
constexpr std::chrono::seconds max_token_ttl{400LL * 24 * 3600};

/// The longest validity an operator token may have: 7 days.
constexpr std::chrono::seconds max_operator_ttl{7 * 24 * 3600};

/// What a valid token says.
struct token_claims {
  std::string user;                          ///< The user it authenticates.
  std::uint64_t issued_unix_us{};            ///< When it was issued (0 for a v1 token: unknown).
  std::uint64_t expires_unix_s{};            ///< When it stops being accepted.
  std::optional<std::uint16_t> device_type;  ///< The only DeviceType it logs in as, if bound.

  /// Whether the token may log in as `type` (auth.wrong_device otherwise).
  error admits_device(std::uint16_t type) const;
};

/// Issues and verifies tokens with one secret. Immutable after construction; thread-safe.
class token_authority {
 public:
  explicit token_authority(std::string secret);

  /// A token for `user` valid for `ttl` from `now`, for any device type or only `device_type`.
  /// `user` must be a valid name and 0 < ttl <= max_token_ttl; std::invalid_argument otherwise
  /// (a caller's bug: callers taking a TTL from outside check it with valid_token_ttl first).
  std::string issue(const std::string& user, std::chrono::seconds ttl,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                    std::optional<std::uint16_t> device_type = std::nullopt) const;

  /// An operator token valid for `ttl` (0 < ttl <= max_operator_ttl; std::invalid_argument
  /// otherwise).
  std::string issue_operator(std::chrono::seconds ttl, std::chrono::system_clock::time_point now =
                                                           std::chrono::system_clock::now()) const;

  /// Checks an operator token; an auth error says why it is refused.
  error verify_operator(const std::string& token, std::chrono::system_clock::time_point now =
                                                      std::chrono::system_clock::now()) const;

  /// Whether `candidate` is this authority's secret (constant time: the app port
  /// authenticates app servers with it).
  bool is_secret(const std::string& candidate) const;

  /// Checks signature and expiry; an auth error (malformed, forged, expired,
  /// unsupported_version) says why a token is refused.
  result<token_claims> verify(const std::string& token, std::chrono::system_clock::time_point now =
                                                            std::chrono::system_clock::now()) const;

 private:
  std::string sign(const std::string& payload) const;
  std::string secret_;
};

/// Whether `ttl` may be given to token_authority::issue.
constexpr bool valid_token_ttl(std::chrono::seconds ttl) {
  return ttl.count() > 0 && ttl <= max_token_ttl;
}

/// Reads the secret at `path` (for tools that issue tokens for an existing node). Never creates
/// it: a secret made by a tool would match no node. Fails with auth.no_secret, the message
/// naming the file and the reason (missing, dangling link, unreadable, wrong size).
result<std::string> load_secret(const std::string& path);

/// Reads the secret at `path`, creating it (32 random bytes, mode 0600) if missing. Only a
/// node calls this, when it opens its data dir. Fails with auth.no_secret.
result<std::string> load_or_create_secret(const std::string& path);

}  // namespace parley::runtime
