#pragma once

// Durations as the CRDs write them.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace poolguard::controller {

/// Go-style durations as the CRD accepts them: "1h30m", "90s", "250ms", "1.5s".
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace poolguard::controller
