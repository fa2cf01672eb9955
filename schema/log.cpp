#include "parley/schema/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

namespace parley::log {

namespace {

struct state {
  std::shared_ptr<spdlog::logger> out;
  std::atomic<level> min{level::info};
  std::atomic<format> fmt{format::text};
  std::mutex limits_mu;
  /// A token bucket of lines per event: `per_second`, bursts of `burst`.
  struct limited {
    static constexpr double per_second = 20, burst = 50;
    double tokens = burst;
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    std::uint64_t suppressed = 0;

    bool take() {
      const auto now = std::chrono::steady_clock::now();
      tokens =
          std::min(burst, tokens + per_second * std::chrono::duration<double>(now - last).count());
      last = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    }
  };
  std::map<std::string, limited, std::less<>> limits;  // one per event name: bounded

  state() : out(spdlog::stderr_logger_mt("parley")) {
    out->set_level(spdlog::level::trace);
    apply_pattern(format::text);
  }

  void apply_pattern(format f) {
    // The time is UTC with milliseconds; the rest of the line is ours.
    if (f == format::json)
      out->set_pattern("{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",\"level\":\"%l\",%v}",
                       spdlog::pattern_time_type::utc);
    else
      out->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
};

state& the() {
  static state s;
  return s;
}

spdlog::level::level_enum to_spdlog(level l) {
  switch (l) {
    case level::debug:
      return spdlog::level::debug;
    case level::info:
      return spdlog::level::info;
    case level::warn:
      return spdlog::level::warn;
    default:
      return spdlog::level::err;
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (b < 0x20) {
      static const char hex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

/// A text value: bare if it is one plain word, else quoted with control bytes escaped.
void append_text_value(std::string& out, std::string_view s) {
  const bool plain =
      !s.empty() && s.find_first_of(" \"=\\") == std::string_view::npos &&
      std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
  if (plain)
    out.append(s);
  else
    append_json_string(out, s);
}

std::string render(format f, std::string_view event, std::initializer_list<field> fields,
                   std::uint64_t suppressed) {
  std::string line;
  if (f == format::json) {
    line += "\"event\":";
    append_json_string(line, event);
    for (const auto& x : fields) {
      line.push_back(',');
      append_json_string(line, x.key);
      line.push_back(':');
      append_json_string(line, x.value);
    }
    if (suppressed > 0) line += ",\"suppressed\":\"" + std::to_string(suppressed) + "\"";
  } else {
    line.append(event);
    for (const auto& x : fields) {
      line.push_back(' ');
      line.append(x.key);
      line.push_back('=');
      append_text_value(line, x.value);
    }
    if (suppressed > 0) line += " suppressed=" + std::to_string(suppressed);
  }
  return line;
}

void emit(level l, std::string_view event, std::initializer_list<field> fields,
          std::uint64_t suppressed) {
  auto& s = the();
  s.out->log(to_spdlog(l), "{}", render(s.fmt.load(), event, fields, suppressed));
}

}  // namespace

void set_level(level min) {
  the().min = min;
}

void set_format(format f) {
  auto& s = the();
  s.fmt = f;
  s.apply_pattern(f);
}

bool enabled(level l) {
  return l >= the().min.load(std::memory_order_relaxed);
}

void write(level l, std::string_view event, std::initializer_list<field> fields) {
  if (!enabled(l)) return;
  emit(l, event, fields, 0);
}

void write_limited(level l, std::string_view event, std::initializer_list<field> fields) {
  if (!enabled(l)) return;
  auto& s = the();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> guard(s.limits_mu);
    auto it = s.limits.find(event);
    if (it == s.limits.end()) it = s.limits.emplace(std::string(event), state::limited{}).first;
    if (!it->second.take()) {
      ++it->second.suppressed;
      return;
    }
    suppressed = it->second.suppressed;
    it->second.suppressed = 0;
  }
  emit(l, event, fields, suppressed);
}

std::optional<level> parse_level(std::string_view name) {
  if (name == "debug") return level::debug;
  if (name == "info") return level::info;
  if (name == "warn") return level::warn;
  if (name == "error") return level::error;
  return std::nullopt;
}

std::optional<format> parse_format(std::string_view name) {
  if (name == "text") return format::text;
  if (name == "json") return format::json;
  return std::nullopt;
}

}  // namespace parley::log
