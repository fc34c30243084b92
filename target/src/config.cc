#include "config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "poolguard/common/dotenv.h"

namespace poolguard::target {
namespace {

[[noreturn]] void Bad(const std::string& name, const std::string& value, const std::string& why) {
  throw std::invalid_argument("invalid " + name + "=\"" + value + "\": " + why);
}

long long ParseInt(const std::string& name, const std::string& value, long long min,
                   long long max) {
  long long out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
    Bad(name, value, "expected a whole number");
  }
  if (out < min || out > max) {
    Bad(name, value, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return out;
}

double ParseSeconds(const std::string& name, const std::string& value, double min, double max) {
  char* end = nullptr;
  const double out = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(out)) {
    Bad(name, value, "expected a number of seconds, such as 3 or 0.5");
  }
  if (out < min || out > max) {
    Bad(name, value, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return out;
}

bool ParseBool(const std::string& name, const std::string& value) {
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  Bad(name, value, "expected true or false");
}

}  // namespace

Config LoadConfig(const VariableSource& source) {
  Config c;
  auto get = [&](const char* name) { return source(name); };

  const auto url = get("DATABASE_URL");
  if (!url || url->empty()) {
    throw std::invalid_argument(
        "DATABASE_URL is not set: expected a URI such as "
        "postgresql://user:password@db:5432/app");
  }
  if (url->rfind("postgresql://", 0) != 0 && url->rfind("postgres://", 0) != 0) {
    Bad("DATABASE_URL", RedactUrl(*url), "must start with postgresql:// or postgres://");
  }
  c.database_url = *url;

  if (auto v = get("BIND_ADDRESS")) {
    unsigned char buf[sizeof(in6_addr)];
    if (inet_pton(AF_INET, v->c_str(), buf) != 1 && inet_pton(AF_INET6, v->c_str(), buf) != 1) {
      Bad("BIND_ADDRESS", *v, "expected an IP address such as 0.0.0.0 or 127.0.0.1");
    }
    c.bind_address = *v;
  }
  if (auto v = get("PORT")) c.port = static_cast<std::uint16_t>(ParseInt("PORT", *v, 1, 65535));
  if (auto v = get("DB_POOL_SIZE")) {
    c.pool_size = static_cast<std::size_t>(ParseInt("DB_POOL_SIZE", *v, 1, 1000));
  }
  if (auto v = get("DB_MAX_OVERFLOW")) {
    c.max_overflow = static_cast<std::size_t>(ParseInt("DB_MAX_OVERFLOW", *v, 0, 1000));
  }
  if (auto v = get("DB_POOL_TIMEOUT")) {
    c.pool_timeout_seconds = ParseSeconds("DB_POOL_TIMEOUT", *v, 0.001, 3600);
  }
  if (auto v = get("DB_POOL_PRE_PING")) c.pool_pre_ping = ParseBool("DB_POOL_PRE_PING", *v);
  if (auto v = get("LOG_LEVEL")) {
    auto level = logging::ParseLevel(*v);
    if (!level)
      Bad("LOG_LEVEL", *v, "expected one of trace, debug, info, warning, error, critical");
    c.log_level = *level;
  }
  if (auto v = get("LOG_FORMAT")) {
    auto format = logging::ParseFormat(*v);
    if (!format) Bad("LOG_FORMAT", *v, "expected json or text");
    c.log_format = *format;
  }
  if (auto v = get("SHUTDOWN_GRACE_SECONDS")) {
    c.shutdown_grace_seconds = ParseSeconds("SHUTDOWN_GRACE_SECONDS", *v, 0, 3600);
  }
  if (auto v = get("DB_STARTUP_TIMEOUT")) {
    c.startup_timeout_seconds = ParseSeconds("DB_STARTUP_TIMEOUT", *v, 0, 3600);
  }
  return c;
}

VariableSource EnvironmentWithDotenv(const std::string& dotenv_path) {
  auto from_env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  std::map<std::string, std::string> file;
  for (auto& entry : dotenv::ParseFile(dotenv_path, from_env)) file[entry.key] = entry.value;
  return [from_env, file = std::move(file)](const std::string& name) -> std::optional<std::string> {
    if (auto v = from_env(name)) return v;
    if (auto it = file.find(name); it != file.end()) return it->second;
    return std::nullopt;
  };
}

std::string RedactUrl(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace poolguard::target
