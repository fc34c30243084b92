#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace poolguard::localnode {

/// The kubelet's HTTPS port, reduced to what `kubectl logs` needs: the API server proxies
/// GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&limitBytes= here.
/// TLS with a serving certificate; clients must present a certificate signed by `client_ca`
/// (the API server's --kubelet-client-certificate). Also GET /healthz.
class KubeletServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    int port = 10250;
    std::string cert_file, key_file, client_ca_file;
  };
  /// Maps (namespace, pod, container) to the log file; nullopt → 404. `alive` tells
  /// whether the container's pod still exists (ends a follow).
  using LogLookup = std::function<std::optional<std::string>(
      const std::string& ns, const std::string& pod, const std::string& container)>;

  KubeletServer(Options options, LogLookup lookup);
  ~KubeletServer();
  /// Throws std::runtime_error when TLS setup or the listen fails.
  void Start();
  void Stop();

 private:
  void Serve(int fd);
  Options options_;
  LogLookup lookup_;
  void* ctx_ = nullptr;  // SSL_CTX
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// The last `n` lines of `text` (all if n < 0).
std::string TailLines(const std::string& text, long n);
/// The log lines (each "<RFC 3339 UTC timestamp> <output>", as the agent's log copier
/// writes them) at or after `since` (RFC 3339; nullopt: all), with the timestamp kept only
/// when `timestamps`. Lines without a timestamp are kept as they are.
std::string SelectLogLines(const std::string& text, const std::optional<std::string>& since,
                           bool timestamps);
/// The RFC 3339 UTC time `seconds` ago, in the copier's format.
std::string LogTimeAgo(long seconds);

}  // namespace poolguard::localnode
