#pragma once

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string_view>

namespace poolguard::logging {

enum class Format { kText, kJson };

/// Parses "json" or "text" (case-insensitive).
std::optional<Format> ParseFormat(std::string_view text);

/// Parses spdlog level names (trace, debug, info, warn/warning, error, critical, off).
std::optional<spdlog::level::level_enum> ParseLevel(std::string_view text);

/// A formatter that writes one JSON object per line:
/// {"ts":"2026-01-02T03:04:05.678Z","level":"error","logger":"target","msg":"..."}.
/// spdlog does not escape messages, so this one does.
std::unique_ptr<spdlog::formatter> MakeJsonFormatter();

/// Replaces the default logger with one named `name` writing to stderr in `format`.
void Setup(std::string_view name, spdlog::level::level_enum level, Format format);

}  // namespace poolguard::logging
