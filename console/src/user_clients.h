// Kubernetes clients that act as the signed-in user: the console's own identity is never
// used for a user's read or write, so the API server's RBAC decides what each person may
// see and do.
#pragma once

#include <poolguard/kube/client.h>
#include <poolguard/kube/config.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace poolguard::console {

/// Where the API server is and how to trust it; never whose credentials to use.
struct ApiServer {
  std::string server;  // https://host:port
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
};

/// A client per bearer token, kept while it is used (a TLS connection per user, not per
/// request), at most `capacity` (the least recently used one goes first) and for at most
/// `ttl` after its last use. Each costs about 1 MB (bench/console.sh): the bound is the
/// console's memory bound.
class UserClients {
 public:
  explicit UserClients(ApiServer api, std::size_t capacity = 32,
                       std::chrono::seconds ttl = std::chrono::minutes(5));

  /// The client that sends `token` (the Authorization header's bearer token).
  std::shared_ptr<kube::Client> For(const std::string& token);
  /// Who `token` is, as the API server says (a SelfSubjectReview, cached for a minute).
  /// Throws kube::ApiError (401 for a token it does not accept).
  std::string UserOf(const std::string& token);

  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<kube::Client> client;
    std::string user;
    std::chrono::steady_clock::time_point user_at, used_at;
  };
  Entry& Slot(const std::string& token);  // mu_ held

  ApiServer api_;
  std::size_t capacity_;
  std::chrono::seconds ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by token
};

/// The token of an "Authorization: Bearer <token>" header; "" when there is none.
std::string BearerToken(const std::string& authorization);

}  // namespace poolguard::console
