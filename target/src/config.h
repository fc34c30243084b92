#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "poolguard/common/logging.h"

namespace poolguard::target {

/// The target's settings, read from the environment and a .env file.
struct Config {
  std::string database_url;  // postgresql:// URI
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 8000;
  std::size_t pool_size = 5;
  std::size_t max_overflow = 0;
  double pool_timeout_seconds = 3.0;
  bool pool_pre_ping = true;
  spdlog::level::level_enum log_level = spdlog::level::info;
  logging::Format log_format = logging::Format::kText;
  double shutdown_grace_seconds = 10.0;
  double startup_timeout_seconds = 60.0;  // how long start-up waits for the database
};

/// Looks a variable up: the environment first, then the .env file.
using VariableSource = std::function<std::optional<std::string>(const std::string&)>;

/// Builds the configuration. Throws std::invalid_argument naming the variable and its
/// value when one is malformed or out of range.
Config LoadConfig(const VariableSource& source);

/// A VariableSource over the process environment plus `dotenv_path` (the environment wins).
/// Throws std::invalid_argument when the .env file is malformed.
VariableSource EnvironmentWithDotenv(const std::string& dotenv_path);

/// The URI with any password replaced by "***", for logs.
std::string RedactUrl(const std::string& url);

}  // namespace poolguard::target
