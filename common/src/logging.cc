#include "poolguard/common/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <string>

#include "poolguard/common/json_util.h"

namespace poolguard::logging {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto since_epoch = msg.time.time_since_epoch();
    const std::time_t secs = duration_cast<seconds>(since_epoch).count();
    const auto millis = duration_cast<milliseconds>(since_epoch).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    const auto level = spdlog::level::to_string_view(msg.level);
    fmt::format_to(std::back_inserter(dest),
                   R"({{"ts":"{}.{:03d}Z","level":"{}","logger":"{}","msg":"{}"}})", ts,
                   static_cast<int>(millis), std::string_view(level.data(), level.size()),
                   json::Escape(std::string_view(msg.logger_name.data(), msg.logger_name.size())),
                   json::Escape(std::string_view(msg.payload.data(), msg.payload.size())));
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::optional<Format> ParseFormat(std::string_view text) {
  const std::string lower = Lower(text);
  if (lower == "json") return Format::kJson;
  if (lower == "text") return Format::kText;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> ParseLevel(std::string_view text) {
  const std::string lower = Lower(text);
  if (lower == "trace") return spdlog::level::trace;
  if (lower == "debug") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  if (lower == "critical") return spdlog::level::critical;
  if (lower == "off") return spdlog::level::off;
  return std::nullopt;
}

std::unique_ptr<spdlog::formatter> MakeJsonFormatter() { return std::make_unique<JsonFormatter>(); }

void Setup(std::string_view name, spdlog::level::level_enum level, Format format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(name), sink);
  if (format == Format::kJson) {
    logger->set_formatter(MakeJsonFormatter());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %n: %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // logs are read live by the controller
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace poolguard::logging
