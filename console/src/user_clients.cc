#include "user_clients.h"

#include <algorithm>
#include <cctype>

#include "requests.h"

namespace poolguard::console {

UserClients::UserClients(ApiServer api, std::size_t capacity, std::chrono::seconds ttl)
    : api_(std::move(api)), capacity_(std::max<std::size_t>(1, capacity)), ttl_(ttl) {}

UserClients::Entry& UserClients::Slot(const std::string& token) {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now - it->second.used_at > ttl_ ? entries_.erase(it) : std::next(it);
  }
  auto it = entries_.find(token);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) {
      entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
        return a.second.used_at < b.second.used_at;
      }));
    }
    kube::Config config;
    config.server = api_.server;
    config.ca_pem = api_.ca_pem;
    config.insecure_skip_tls_verify = api_.insecure_skip_tls_verify;
    config.tls_server_name = api_.tls_server_name;
    config.token = token;
    config.source = "the signed-in user's bearer token";
    kube::ClientOptions options;
    options.request_timeout = std::chrono::seconds(30);
    options.user_agent = "poolguard-console/0.1";
    options.protobuf = false;
    it = entries_.emplace(token, Entry{kube::Client::Create(config, options), "", {}, now}).first;
  }
  it->second.used_at = now;
  return it->second;
}

std::shared_ptr<kube::Client> UserClients::For(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  return Slot(token).client;
}

std::string UserClients::UserOf(const std::string& token) {
  std::shared_ptr<kube::Client> client;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = Slot(token);
    if (!e.user.empty() && std::chrono::steady_clock::now() - e.user_at < std::chrono::minutes(1)) {
      return e.user;
    }
    client = e.client;
  }
  kube::Json review = kube::Json::object();
  review["apiVersion"] = kube::Json::string("authentication.k8s.io/v1");
  review["kind"] = kube::Json::string("SelfSubjectReview");
  const kube::Json answer = client->Do("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                       {}, review.serialize());
  const std::string user = UserFromReview(answer);
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = Slot(token);
  e.user = user;
  e.user_at = std::chrono::steady_clock::now();
  return user;
}

std::size_t UserClients::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::string BearerToken(const std::string& authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return "";
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return "";
  }
  std::string token = authorization.substr(kScheme.size());
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) {
    token.erase(token.begin());
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  // A token is printable ASCII with no spaces; anything else would end up in a header.
  for (char c : token) {
    if (c <= 0x20 || c >= 0x7f) return "";
  }
  return token.size() > 16384 ? "" : token;
}

}  // namespace poolguard::console
