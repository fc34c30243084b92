#include "poolguard/kube/client.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <set>

#include "file_util.h"
#include "json_scan.h"
#include "log_internal.h"
#include "poolguard/common/json_util.h"
#include "proto_json.h"
#include "watch_stream.h"

namespace poolguard::kube {

namespace internal {
// Throws boost::system::system_error on bad PEM; Create() runs it once eagerly so that
// happens at start-up, not on an asio thread.
void ApplyTls(const Config& c, boost::asio::ssl::context& ctx) {
  if (!c.ca_pem.empty()) ctx.add_certificate_authority(boost::asio::buffer(c.ca_pem));
  if (!c.client_cert_pem.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(c.client_cert_pem));
    ctx.use_private_key(boost::asio::buffer(c.client_key_pem), boost::asio::ssl::context::pem);
  }
}
}  // namespace internal

namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;

constexpr auto kTokenRefresh = std::chrono::minutes(1);
constexpr int kMaxRetryAfterAttempts = 5;
constexpr auto kMaxRetryAfterWait = std::chrono::seconds(30);

std::string Base64Encode(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned val = 0;
  int bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(tbl[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(tbl[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

ApiError TransportError(const std::string& method, const std::string& path,
                        const std::exception& e) {
  ErrorKind kind = ErrorKind::kTransport;
  if (auto* he = dynamic_cast<const http::http_exception*>(&e)) {
    if (he->error_code() == std::errc::timed_out) kind = ErrorKind::kTimeout;
  }
  return ApiError(kind, 0, "", method + " " + path + ": " + e.what());
}

class ClientImpl : public Client {
 public:
  ClientImpl(const Config& config, ClientOptions options)
      : config_(config),
        options_(std::move(options)),
        clock_(options_.clock ? options_.clock : Clock::Real()) {
    if (config_.server.empty()) throw ConfigError(config_.source + ": server is empty");
    try {
      base_ = web::uri(config_.server);
    } catch (const std::exception& e) {
      throw ConfigError(config_.source + ": server '" + config_.server +
                        "' is not a valid URL: " + e.what());
    }
    try {
      boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23);
      internal::ApplyTls(config_, probe);
    } catch (const std::exception& e) {
      throw ConfigError(config_.source + ": TLS material (certificate-authority, " +
                        "client-certificate, client-key) is not usable: " + e.what());
    }
    http_ = MakeHttpClient(options_.request_timeout);
  }

  Response Raw(const std::string& method, const std::string& path,
               const std::map<std::string, std::string>& query, const std::string& body,
               const std::string& content_type) override {
    http::http_request req = MakeRequest(method, path, query, body, content_type);
    Response out;
    try {
      http::http_response resp = http_->request(req).get();
      out.status = resp.status_code();
      out.body = resp.extract_string(true).get();
      for (const auto& h : resp.headers()) out.headers[h.first] = h.second;
    } catch (const ApiError&) {
      throw;
    } catch (const std::exception& e) {
      throw TransportError(method, path, e);
    }
    return out;
  }

  Response RawAccept(const std::string& path, const std::map<std::string, std::string>& query,
                     const std::string& accept) override {
    http::http_request req = MakeRequest("GET", path, query, "", "");
    if (options_.protobuf) {
      req.headers().remove("Accept");
      req.headers().add("Accept", accept);
    }
    Response out;
    try {
      http::http_response resp = http_->request(req).get();
      out.status = resp.status_code();
      std::vector<unsigned char> body = resp.extract_vector().get();
      out.body.assign(body.begin(), body.end());
      for (const auto& h : resp.headers()) out.headers[h.first] = h.second;
    } catch (const ApiError&) {
      throw;
    } catch (const std::exception& e) {
      throw TransportError("GET", path, e);
    }
    return out;
  }

  std::unique_ptr<WatchStream> OpenWatch(const std::string& path,
                                         std::map<std::string, std::string> query,
                                         std::chrono::seconds inactivity_timeout) override {
    return OpenWatchAccept(path, std::move(query), inactivity_timeout, "application/json");
  }

  std::unique_ptr<WatchStream> OpenWatchAccept(const std::string& path,
                                               std::map<std::string, std::string> query,
                                               std::chrono::seconds inactivity_timeout,
                                               const std::string& accept) override {
    query["watch"] = "1";
    // A connection of its own per watch, read on the caller's thread (watch_stream.cc). Its
    // timeout is an inactivity timeout reset by every read, so it must exceed the server's
    // timeoutSeconds plus bookmarks' spacing.
    internal::WatchRequest req;
    req.scheme = base_.scheme();
    req.host = base_.host();
    req.port = base_.port();
    web::uri_builder b(path);
    for (const auto& [k, v] : query) b.append_query(k, v, true);
    req.target = b.to_string();
    req.headers = Headers();
    if (options_.protobuf && accept != "application/json" && !JsonOnly(path)) {
      for (auto& [k, v] : req.headers) {
        if (k == "Accept") v = accept;
      }
      // Protobuf this transcoder cannot render faithfully (a field of a newer server, CBOR
      // content): this path is watched as JSON from now on.
      std::weak_ptr<Client> weak = weak_from_this();
      req.on_protobuf_error = [weak, path](const std::string& why) {
        auto self = std::static_pointer_cast<ClientImpl>(weak.lock());
        if (!self) return;
        internal::Log(LogLevel::kWarning,
                      "watch " + path + ": " + why + "; using JSON from now on");
        std::lock_guard<std::mutex> g(self->json_only_mutex_);
        self->json_only_.insert(path);
      };
    }
    bool has_host = false;
    for (const auto& h : req.headers) has_host = has_host || h.first == "Host";
    if (!has_host) {
      req.headers.emplace_back("Host", base_.port() > 0
                                           ? base_.host() + ":" + std::to_string(base_.port())
                                           : base_.host());
    }
    req.connect_timeout = options_.request_timeout;
    req.inactivity_timeout = inactivity_timeout;
    req.what = "watch " + path;
    return internal::OpenWatchStream(config_, req);
  }

  bool JsonOnly(const std::string& path) {
    std::lock_guard<std::mutex> g(json_only_mutex_);
    return json_only_.count(path) > 0;
  }

  const Config& config() const override { return config_; }
  std::shared_ptr<Clock> clock() const override { return clock_; }

 private:
  std::unique_ptr<http_client> MakeHttpClient(std::chrono::seconds timeout) {
    http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config_.insecure_skip_tls_verify);
    Config tls = config_;
    cfg.set_ssl_context_callback([tls](boost::asio::ssl::context& ctx) {
      try {
        internal::ApplyTls(tls, ctx);
      } catch (const std::exception&) {
        // Already validated in the constructor; a failure here would surface as a TLS
        // handshake error on the request rather than crash an asio thread.
      }
    });
    return std::make_unique<http_client>(base_, cfg);
  }

  http::http_request MakeRequest(const std::string& method, const std::string& path,
                                 const std::map<std::string, std::string>& query,
                                 const std::string& body, const std::string& content_type) {
    http::http_request req(method);
    web::uri_builder b(path);
    for (const auto& [k, v] : query) b.append_query(k, v, true);
    req.set_request_uri(b.to_uri());
    auto& h = req.headers();
    for (const auto& [k, v] : Headers()) h.add(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.set_body(body, content_type.empty() ? "application/json" : content_type);
    }
    return req;
  }

  // Headers of every request: content negotiation, Host for tls-server-name, credentials,
  // impersonation.
  std::vector<std::pair<std::string, std::string>> Headers() {
    std::vector<std::pair<std::string, std::string>> h;
    h.emplace_back("Accept", "application/json");
    h.emplace_back("User-Agent", options_.user_agent);
    if (!config_.tls_server_name.empty()) {
      // cpprestsdk verifies the certificate (and sends SNI) for the Host header's name.
      std::string host = config_.tls_server_name;
      if (base_.port() > 0) host += ":" + std::to_string(base_.port());
      h.emplace_back("Host", host);
    }
    std::string token = CurrentToken();
    if (!token.empty()) {
      h.emplace_back("Authorization", "Bearer " + token);
    } else if (!config_.username.empty()) {
      h.emplace_back("Authorization",
                     "Basic " + Base64Encode(config_.username + ":" + config_.password));
    }
    if (!config_.impersonate_user.empty()) {
      h.emplace_back("Impersonate-User", config_.impersonate_user);
    }
    for (const auto& g : config_.impersonate_groups) h.emplace_back("Impersonate-Group", g);
    return h;
  }

  std::string CurrentToken() {
    if (config_.token_file.empty()) return config_.token;
    std::lock_guard<std::mutex> guard(token_mutex_);
    auto now = clock_->Now();
    if (!token_read_ || now - token_read_at_ >= kTokenRefresh) {
      std::string contents, err;
      // On failure keep the last good token: a rotation in progress must not break calls.
      if (file_util::ReadFile(config_.token_file, &contents, &err)) {
        cached_token_ = file_util::Trim(contents);
      }
      token_read_ = true;
      token_read_at_ = now;
    }
    return cached_token_.empty() ? config_.token : cached_token_;
  }

  Config config_;
  ClientOptions options_;
  std::shared_ptr<Clock> clock_;
  web::uri base_;
  std::unique_ptr<http_client> http_;

  std::mutex token_mutex_;
  bool token_read_ = false;
  Clock::TimePoint token_read_at_;
  std::string cached_token_;
  std::mutex json_only_mutex_;
  std::set<std::string> json_only_;  // watch paths whose protobuf could not be transcoded
};

std::string ContentType(PatchType t) {
  switch (t) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

void AddListQuery(const ListOptions& o, std::map<std::string, std::string>* q) {
  if (!o.label_selector.empty()) (*q)["labelSelector"] = o.label_selector;
  if (!o.field_selector.empty()) (*q)["fieldSelector"] = o.field_selector;
  if (o.limit > 0) (*q)["limit"] = std::to_string(o.limit);
  if (!o.continue_token.empty()) (*q)["continue"] = o.continue_token;
  if (!o.resource_version.empty()) (*q)["resourceVersion"] = o.resource_version;
  if (o.timeout_seconds) (*q)["timeoutSeconds"] = std::to_string(*o.timeout_seconds);
  if (!o.resource_version_match.empty()) (*q)["resourceVersionMatch"] = o.resource_version_match;
  if (o.send_initial_events) (*q)["sendInitialEvents"] = "true";
}

}  // namespace

ApiError ErrorFromStatus(const Json& status) {
  return ErrorFromResponse(json::IntOr(status, "code", 0), status.serialize());
}

bool Client::SetIoThreads(size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
    return true;
  } catch (const std::exception&) {  // already initialized
    return false;
  }
}

std::shared_ptr<Client> Client::Create(const Config& config, ClientOptions options) {
  return std::make_shared<ClientImpl>(config, std::move(options));
}

ResourceClient Client::Resource(const GroupVersionResource& gvr, const std::string& ns) {
  return ResourceClient(shared_from_this(), gvr, ns);
}

std::string Client::Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return "";
}

Client::Response Client::RawAccept(const std::string& path,
                                   const std::map<std::string, std::string>& query,
                                   const std::string&) {
  return Raw("GET", path, query);
}

std::unique_ptr<WatchStream> Client::OpenWatchAccept(const std::string& path,
                                                     std::map<std::string, std::string> query,
                                                     std::chrono::seconds inactivity_timeout,
                                                     const std::string&) {
  return OpenWatch(path, std::move(query), inactivity_timeout);
}

std::optional<RawWatchEvent> WatchStream::NextRaw() {
  std::optional<WatchEvent> ev = Next();
  if (!ev) return std::nullopt;
  return RawWatchEvent{ev->type, ev->object.serialize()};
}

Json Client::Do(const std::string& method, const std::string& path,
                const std::map<std::string, std::string>& query, const std::string& body,
                const std::string& content_type) {
  std::string text = DoText(method, path, query, body, content_type);
  if (file_util::Trim(text).empty()) return Json::null();
  try {
    return Json::parse(text);
  } catch (const std::exception& e) {
    throw ApiError(ErrorKind::kTransport, 200, "",
                   method + " " + path + ": response is not JSON: " + e.what());
  }
}

namespace {

// Client::DoText's loop over any way of making the request.
template <class Fetch>
std::string TextWithRetries(Client& client, Fetch&& fetch) {
  for (int attempt = 1;; ++attempt) {
    Client::Response r = fetch();
    if (r.status >= 200 && r.status < 300) return std::move(r.body);
    ApiError err = ErrorFromResponse(r.status, r.body, r.Header("Retry-After"));
    // Honour the server's Retry-After for 429 (and 5xx that carry it) a few times, as
    // client-go does; then let the caller see the error, retry_after() included.
    bool retryable = err.kind() == ErrorKind::kTooManyRequests ||
                     (r.status >= 500 && err.retry_after().has_value());
    if (!retryable || !err.retry_after() || attempt >= kMaxRetryAfterAttempts) throw err;
    auto wait = std::min<std::chrono::seconds>(*err.retry_after(), kMaxRetryAfterWait);
    std::mutex m;
    std::condition_variable cv;
    std::unique_lock<std::mutex> lock(m);
    auto deadline = client.clock()->Now() + wait;
    while (client.clock()->Now() < deadline) client.clock()->WaitUntil(lock, cv, deadline);
  }
}

}  // namespace

std::string Client::DoText(const std::string& method, const std::string& path,
                           const std::map<std::string, std::string>& query, const std::string& body,
                           const std::string& content_type) {
  return TextWithRetries(*this, [&] { return Raw(method, path, query, body, content_type); });
}

ResourceClient::ResourceClient(std::shared_ptr<Client> client, GroupVersionResource gvr,
                               std::string ns)
    : client_(std::move(client)), gvr_(std::move(gvr)), ns_(std::move(ns)) {}

std::string ResourceClient::Path(const std::string& ns, const std::string& name,
                                 const std::string& subresource) const {
  std::string p =
      gvr_.group.empty() ? "/api/" + gvr_.version : "/apis/" + gvr_.group + "/" + gvr_.version;
  if (gvr_.namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + gvr_.resource;
  if (!name.empty()) p += "/" + name;
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

std::string ResourceClient::NamespaceOf(const Json& object) const {
  if (!gvr_.namespaced) return "";
  std::string from_object = kube::NamespaceOf(object);
  if (!ns_.empty()) {
    if (!from_object.empty() && from_object != ns_) {
      throw ApiError(
          ErrorKind::kBadRequest, 0, "",
          "object namespace '" + from_object + "' does not match client namespace '" + ns_ + "'");
    }
    return ns_;
  }
  if (from_object.empty()) {
    throw ApiError(ErrorKind::kBadRequest, 0, "",
                   "no namespace: set metadata.namespace or use a namespaced ResourceClient");
  }
  return from_object;
}

Json ResourceClient::Get(const std::string& name, const std::string& subresource) const {
  return client_->Do("GET", Path(ns_, name, subresource));
}

ObjectList ResourceClient::List(const ListOptions& options) const {
  std::map<std::string, std::string> q;
  AddListQuery(options, &q);
  Json list = client_->Do("GET", Path(ns_), q);
  ObjectList out;
  out.resource_version = json::StringAt(list, {"metadata", "resourceVersion"});
  out.continue_token = json::StringAt(list, {"metadata", "continue"});
  if (list.has_field("items") && list.at("items").is_array()) {
    auto& items = list.at("items").as_array();
    out.items.reserve(items.size());
    for (auto& item : items) out.items.push_back(std::move(item));
  }
  return out;
}

RawObjectList ResourceClient::ListRaw(const ListOptions& options) const {
  std::map<std::string, std::string> q;
  AddListQuery(options, &q);
  std::string path = Path(ns_);
  std::string body;
  bool transcoded = false;
  if (proto::FindResource(gvr_.group, gvr_.version, gvr_.resource)) {
    // A built-in kind: offer protobuf (the server encodes it faster) and read the list as
    // the JSON text the server would have sent; JSON again if it cannot be transcoded.
    try {
      body = TextWithRetries(*client_, [&] {
        Client::Response r =
            client_->RawAccept(path, q, std::string(proto::kMediaType) + ", application/json");
        if (proto::IsProtobuf(r.Header("Content-Type"))) {
          bool ok = r.status >= 200 && r.status < 300;
          r.body = ok ? proto::ToJson(r.body) : internal::ProtobufBodyAsJson(r.body);
        }
        return r;
      });
      transcoded = true;
    } catch (const proto::ProtoError& e) {
      internal::Log(LogLevel::kWarning, "GET " + path + ": " + e.what() + "; asking for JSON");
    }
  }
  if (!transcoded) body = client_->DoText("GET", path, q);
  RawObjectList out;
  auto bad = [&](const std::string& why) {
    return ApiError(ErrorKind::kTransport, 200, "", "GET " + path + ": " + why);
  };
  auto metadata = json_scan::Member(body, "metadata");
  if (metadata) {
    out.resource_version = json_scan::StrAt(*metadata, {"resourceVersion"});
    out.continue_token = json_scan::StrAt(*metadata, {"continue"});
  } else if (json_scan::SkipValue(body, 0) == json_scan::kBad) {
    throw bad("response is not JSON");
  }
  auto items = json_scan::Member(body, "items");
  if (items && *items != "null") {
    bool ok = json_scan::ForEachElement(
        *items, [&](std::string_view item) { out.items.emplace_back(item); });
    if (!ok) throw bad("items of the list are not a JSON array");
  }
  return out;
}

ObjectList ResourceClient::ListAll(ListOptions options) const {
  ObjectList all = List(options);
  while (!all.continue_token.empty()) {
    options.continue_token = all.continue_token;
    ObjectList page = List(options);
    for (auto& item : page.items) all.items.push_back(std::move(item));
    all.continue_token = page.continue_token;
  }
  return all;
}

namespace {
std::map<std::string, std::string> WriteQuery(const WriteOptions& o) {
  std::map<std::string, std::string> q;
  if (!o.field_manager.empty()) q["fieldManager"] = o.field_manager;
  if (o.dry_run) q["dryRun"] = "All";
  return q;
}
}  // namespace

Json ResourceClient::Create(const Json& object, const WriteOptions& options) const {
  return client_->Do("POST", Path(NamespaceOf(object)), WriteQuery(options), object.serialize());
}

Json ResourceClient::Update(const Json& object, const WriteOptions& options) const {
  return client_->Do("PUT", Path(NamespaceOf(object), kube::NameOf(object)), WriteQuery(options),
                     object.serialize());
}

Json ResourceClient::UpdateStatus(const Json& object, const WriteOptions& options) const {
  return client_->Do("PUT", Path(NamespaceOf(object), kube::NameOf(object), "status"),
                     WriteQuery(options), object.serialize());
}

Json ResourceClient::Delete(const std::string& name, const DeleteOptions& options) const {
  Json body = Json::object();
  body["kind"] = Json::string("DeleteOptions");
  body["apiVersion"] = Json::string("v1");
  switch (options.propagation) {
    case PropagationPolicy::kOrphan:
      body["propagationPolicy"] = Json::string("Orphan");
      break;
    case PropagationPolicy::kBackground:
      body["propagationPolicy"] = Json::string("Background");
      break;
    case PropagationPolicy::kForeground:
      body["propagationPolicy"] = Json::string("Foreground");
      break;
    case PropagationPolicy::kDefault:
      break;
  }
  if (options.grace_period_seconds) {
    body["gracePeriodSeconds"] = Json::number(static_cast<int64_t>(*options.grace_period_seconds));
  }
  if (!options.precondition_uid.empty() || !options.precondition_resource_version.empty()) {
    Json pre = Json::object();
    if (!options.precondition_uid.empty()) pre["uid"] = Json::string(options.precondition_uid);
    if (!options.precondition_resource_version.empty()) {
      pre["resourceVersion"] = Json::string(options.precondition_resource_version);
    }
    body["preconditions"] = pre;
  }
  if (options.dry_run) {
    Json dr = Json::array();
    dr[0] = Json::string("All");
    body["dryRun"] = dr;
  }
  return client_->Do("DELETE", Path(ns_, name), {}, body.serialize());
}

Json ResourceClient::Patch(const std::string& name, PatchType type, const Json& patch,
                           const PatchOptions& options, const std::string& subresource) const {
  std::map<std::string, std::string> q;
  if (!options.field_manager.empty()) q["fieldManager"] = options.field_manager;
  if (type == PatchType::kApply) {
    if (options.field_manager.empty()) {
      throw ApiError(ErrorKind::kBadRequest, 0, "", "server-side apply needs a field manager");
    }
    if (options.force) q["force"] = "true";
  }
  if (options.dry_run) q["dryRun"] = "All";
  std::string ns = ns_;
  if (ns.empty() && gvr_.namespaced) ns = kube::NamespaceOf(patch);
  return client_->Do("PATCH", Path(ns, name, subresource), q, patch.serialize(), ContentType(type));
}

Json ResourceClient::Apply(const Json& object, const std::string& field_manager, bool force) const {
  // JSON is YAML, so the object is sent as it is.
  return client_->Do("PATCH", Path(NamespaceOf(object), kube::NameOf(object)),
                     {{"fieldManager", field_manager}, {"force", force ? "true" : "false"}},
                     object.serialize(), ContentType(PatchType::kApply));
}

Json ResourceClient::GetScale(const std::string& name) const { return Get(name, "scale"); }

Json ResourceClient::SetScale(const std::string& name, int32_t replicas) const {
  Json patch = Json::object();
  patch["spec"] = Json::object();
  patch["spec"]["replicas"] = Json::number(replicas);
  return Patch(name, PatchType::kMerge, patch, {}, "scale");
}

std::unique_ptr<WatchStream> ResourceClient::Watch(const ListOptions& options) const {
  std::map<std::string, std::string> q;
  ListOptions o = options;
  o.limit = 0;
  o.continue_token.clear();
  AddListQuery(o, &q);
  q["allowWatchBookmarks"] = "true";
  int timeout = options.timeout_seconds.value_or(300);
  auto inactivity = std::chrono::seconds(timeout + 60);
  if (proto::FindResource(gvr_.group, gvr_.version, gvr_.resource)) {
    // A built-in kind: protobuf, turned into the same JSON text by the stream.
    return client_->OpenWatchAccept(Path(ns_), q, inactivity,
                                    std::string(proto::kMediaType) + ", application/json");
  }
  return client_->OpenWatch(Path(ns_), q, inactivity);
}

}  // namespace poolguard::kube
