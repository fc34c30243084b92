// The collector's probes on the shared deadline-bounded HTTP client (common/).

#include "remediation/probes.h"

namespace poolguard::controller {
namespace {

class Getter final : public HttpGetter {
 public:
  HttpResult Get(const std::string& url, std::chrono::milliseconds timeout) override {
    http::GetOptions options;
    options.timeout = timeout;
    options.user_agent = "poolguard-controller";
    return http::Get(url, options);
  }
};

}  // namespace

ProbeResult TcpConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  ProbeResult result;
  if (endpoint.host.empty() || endpoint.port <= 0 || endpoint.port > 65535) {
    result.outcome = Outcome::kError;
    result.detail = "invalid endpoint " + endpoint.ToString();
    return result;
  }
  const auto start = std::chrono::steady_clock::now();
  const http::ConnectOutcome connected = http::TcpConnect(endpoint.host, endpoint.port, timeout);
  if (connected.connected) {
    result.outcome = Outcome::kPass;
    result.detail = "connected to " + endpoint.ToString() + " in " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count()) +
                    " ms";
  } else {
    result.outcome = Outcome::kFail;
    result.detail = connected.error;
  }
  return result;
}

std::unique_ptr<HttpGetter> NewHttpGetter() { return std::make_unique<Getter>(); }

}  // namespace poolguard::controller
