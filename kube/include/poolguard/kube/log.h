#pragma once

#include <functional>
#include <string>

namespace poolguard::kube {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

/// Where the library's own diagnostics go (watch reconnects, dropped events, lost leases).
/// The default writes warnings and errors to stderr. Install a sink once, at start-up,
/// before starting informers or electors (e.g. forwarding to spdlog). The sink must be
/// thread-safe.
void SetLogSink(std::function<void(LogLevel level, const std::string& message)> sink);

}  // namespace poolguard::kube
