#pragma once
// Operator logs: one line per event on stderr, levelled and structured, as text
//
//   2026-12-03T11:40:00.123Z info login_refused peer=127.0.0.1:51234 user=alice reason=banned
//
// or as JSON (--log-format json), one object per line:
//
//   {"ts":"2026-12-03T11:40:00.123Z","level":"info","event":"login_refused","peer":...}
//
// An event has a fixed snake_case name (docs/OPERATIONS.md lists them) and string fields.
// Events a client can cause (bad frames, refused logins) go through write_limited: at most 20
// lines a second of one event, the rest counted and reported as `suppressed` on the next line
// of that event, so a flood cannot fill the disk. spdlog (Debian's) does the writing, behind
// this header: callers do not compile it. It lives in the base library so that the store logs
// too.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace parley::log {

enum class level : std::uint8_t { debug, info, warn, error };
enum class format : std::uint8_t { text, json };

/// One field of an event.
struct field {
  std::string_view key;
  std::string value;
};

/// Sets the lowest level written. Default: info.
void set_level(level min);
/// Sets the format of the lines. Default: text.
void set_format(format f);
/// Whether events of `l` are written (skip building costly fields otherwise).
bool enabled(level l);
/// Writes one event.
void write(level l, std::string_view event, std::initializer_list<field> fields = {});
/// Writes one event a client can cause, rate-limited per event name.
void write_limited(level l, std::string_view event, std::initializer_list<field> fields = {});

/// "debug", "info", "warn", "error".
std::optional<level> parse_level(std::string_view name);
/// "text", "json".
std::optional<format> parse_format(std::string_view name);

inline void debug(std::string_view event, std::initializer_list<field> fields = {}) {
  if (enabled(level::debug)) write(level::debug, event, fields);
}
inline void info(std::string_view event, std::initializer_list<field> fields = {}) {
  write(level::info, event, fields);
}
inline void warn(std::string_view event, std::initializer_list<field> fields = {}) {
  write(level::warn, event, fields);
}
inline void error(std::string_view event, std::initializer_list<field> fields = {}) {
  write(level::error, event, fields);
}

}  // namespace parley::log
