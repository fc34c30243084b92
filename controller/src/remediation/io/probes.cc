// The collector's probes on the shared deadline-bounded HTTP client (common/).

#include "remediation/probes.h"

namespace poolguard::controller {
namespace {

class NetProbes final : public Probes {
 public:
  HttpResult Get(const std::string& url, std::chrono::milliseconds timeout,
                 std::size_t max_bytes) override {
    http::GetOptions options;
    options.timeout = timeout;
    options.max_body_bytes = max_bytes;
    options.user_agent = "poolguard-controller";
    return http::Get(url, options);
  }

  ProbeResult TcpConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout) override {
    ProbeResult result;
    if (endpoint.host.empty() || endpoint.port <= 0 || endpoint.port > 65535) {
      result.outcome = Outcome::kError;
      result.detail = "invalid endpoint " + endpoint.ToString();
      return result;
    }
    const auto start = std::chrono::steady_clock::now();
    const http::ConnectOutcome c = http::TcpConnect(endpoint.host, endpoint.port, timeout);
    if (!c.connected) {
      result.outcome = Outcome::kFail;
      result.detail = c.error;
      return result;
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    result.outcome = Outcome::kPass;
    result.detail =
        "connected to " + endpoint.ToString() + " in " + std::to_string(took.count()) + " ms";
    return result;
  }
};

}  // namespace

std::unique_ptr<Probes> NewProbes() { return std::make_unique<NetProbes>(); }

}  // namespace poolguard::controller
