#include "console_api.h"

#include <poolguard/common/http_client.h>
#include <poolguard/common/json_util.h>
#include <poolguard/kube/errors.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string_view>
#include <utility>

#include "assets.h"
#include "requests.h"
#include "series.h"

namespace poolguard::console {
namespace {

using http::Request;
using http::Response;

const kube::GroupVersionResource kRemediations{"poolguard.dev", "v1alpha1", "remediations"};
const kube::GroupVersionResource kExperiments{"poolguard.dev", "v1alpha1", "chaosexperiments"};
const kube::GroupVersionResource kEvents{"", "v1", "events"};

// Who is calling: their token and the client that sends it.
struct Caller {
  std::string token;
  std::shared_ptr<kube::Client> client;
};
using AuthedHandler = std::function<Response(const Request&, const Caller&)>;

// The API server's refusal, passed on with its own code and words (403 stays 403).
Response FromApiError(const kube::ApiError& e) {
  if (e.http_status() == 0) {
    return Response::Error(502, "ApiServerUnreachable",
                           std::string("the Kubernetes API server did not answer: ") + e.what());
  }
  const int status = e.http_status() >= 400 && e.http_status() < 600 ? e.http_status() : 502;
  return Response::Error(status, e.reason().empty() ? "ApiError" : e.reason(),
                         e.message().empty() ? std::string(e.what()) : e.message());
}

Response FromInvalid(const Invalid& bad, int status = 400) {
  Json error = Json::object();
  error["code"] = Json::string(status == 409 ? "Conflict" : "Invalid");
  error["field"] = Json::string(bad.field);
  error["message"] = Json::string(bad.field + ": " + bad.message);
  Json body = Json::object();
  body["error"] = error;
  return Response::Json(status, body);
}

Json Trimmed(const Json& object) {
  Json out = Json::object();
  const Json empty = Json::object();
  const Json& metadata = object.has_field("metadata") ? object.at("metadata") : empty;
  Json m = Json::object();
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp",
                        "generation", "labels"}) {
    if (metadata.has_field(f)) m[f] = metadata.at(f);
  }
  if (metadata.has_field("annotations") && metadata.at("annotations").is_object()) {
    Json a = Json::object();
    for (const auto& [k, v] : metadata.at("annotations").as_object()) {
      if (k.rfind("poolguard.dev/", 0) == 0) a[k] = v;
    }
    m["annotations"] = a;
  }
  out["metadata"] = m;
  for (const char* f : {"spec", "status"}) {
    if (object.has_field(f)) out[f] = object.at(f);
  }
  return out;
}

Json ListBody(const kube::ObjectList& list, const std::function<Json(const Json&)>& each) {
  std::vector<Json> items;
  items.reserve(list.items.size());
  for (const auto& item : list.items) items.push_back(each(item));
  Json body = Json::object();
  body["items"] = Json::array(items);
  body["resourceVersion"] = Json::string(list.resource_version);
  // More than one page: the first kListLimit are shown, and the answer says so.
  if (!list.continue_token.empty()) body["truncated"] = Json::boolean(true);
  return body;
}

// A list answer is bounded: the first page of kListLimit objects.
constexpr int64_t kListLimit = 500;
kube::ListOptions Page() {
  kube::ListOptions options;
  options.limit = kListLimit;
  return options;
}

std::string Query(const Request& r, const std::string& name) {
  auto it = r.query.find(name);
  return it == r.query.end() ? "" : it->second;
}

// The `namespace` query parameter: "" (all the caller may list) or a valid name.
std::optional<Response> BadNamespace(const std::string& ns) {
  if (ns.empty() || IsDnsLabel(ns)) return std::nullopt;
  return FromInvalid({"namespace", "\"" + ns.substr(0, 64) + "\" is not a valid namespace name"});
}

// A request id: the time and a random tail, unique enough to tell requests apart.
std::string RequestId() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::lock_guard<std::mutex> lock(mu);
  char tail[16];
  std::snprintf(tail, sizeof tail, "%06llx", static_cast<unsigned long long>(rng() & 0xffffffULL));
  return std::string(stamp) + "-" + tail;
}

Response Asset(const EmbeddedAsset& a) {
  Response r = Response::Text(200, std::string(a.data, a.size), a.content_type);
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
  return r;
}

}  // namespace

ConsoleApi::ConsoleApi(std::shared_ptr<UserClients> clients) : clients_(std::move(clients)) {}

http::Router ConsoleApi::MakeRouter() {
  http::Router router;
  auto clients = clients_;
  // Every cluster route: a bearer token, or 401; the API server's errors passed on.
  auto authed = [clients](AuthedHandler f) -> http::Handler {
    return [clients, f = std::move(f)](const Request& r) {
      const std::string token = BearerToken(r.authorization);
      if (token.empty()) {
        Response res = Response::Error(
            401, "Unauthorized",
            "sign in: send 'Authorization: Bearer <token>' with a Kubernetes token (for "
            "example kubectl create token <serviceaccount> -n <namespace>)");
        res.headers.emplace_back("WWW-Authenticate", "Bearer");
        return res;
      }
      try {
        return f(r, Caller{token, clients->For(token)});
      } catch (const kube::ApiError& e) {
        return FromApiError(e);
      } catch (const kube::ConfigError& e) {
        return Response::Error(500, "ConsoleMisconfigured", e.what());
      }
    };
  };

  router.Add(
      "GET", "/livez", [](const Request&) { return Response::Text(200, "ok\n"); },
      http::Dispatch::kInline);
  router.Add("GET", "/", [](const Request&) { return Asset(IndexHtml()); });
  router.Add("GET", "/console.js", [](const Request&) { return Asset(ConsoleJs()); });
  router.Add("GET", "/console.css", [](const Request&) { return Asset(ConsoleCss()); });

  router.Add("GET", "/api/whoami", authed([clients](const Request&, const Caller& c) {
               Json body = Json::object();
               body["username"] = Json::string(clients->UserOf(c.token));
               return Response::Json(200, body);
             }));

  router.Add("GET", "/api/remediations", authed([](const Request& r, const Caller& c) {
               const std::string ns = Query(r, "namespace");
               if (auto bad = BadNamespace(ns)) return *bad;
               return Response::Json(
                   200, ListBody(c.client->Resource(kRemediations, ns).List(Page()), Trimmed));
             }));
  router.Add("GET", "/api/experiments", authed([](const Request& r, const Caller& c) {
               const std::string ns = Query(r, "namespace");
               if (auto bad = BadNamespace(ns)) return *bad;
               return Response::Json(
                   200, ListBody(c.client->Resource(kExperiments, ns).List(Page()), Trimmed));
             }));
  // The Events of one object, newest last (who approved, what was done).
  router.Add("GET", "/api/events", authed([](const Request& r, const Caller& c) {
               const std::string ns = Query(r, "namespace");
               const std::string name = Query(r, "name");
               if (ns.empty()) return FromInvalid({"namespace", "is required"});
               if (auto bad = BadNamespace(ns)) return *bad;
               if (!IsDnsSubdomain(name)) return FromInvalid({"name", "a valid name is required"});
               kube::ListOptions options = Page();
               options.field_selector = "involvedObject.name=" + name;
               auto list = c.client->Resource(kEvents, ns).List(options);
               std::sort(list.items.begin(), list.items.end(), [](const Json& a, const Json& b) {
                 return json::StringAt(a, {"lastTimestamp"}) < json::StringAt(b, {"lastTimestamp"});
               });
               if (list.items.size() > 100) {
                 list.items.erase(list.items.begin(), list.items.end() - 100);
               }
               return Response::Json(200, ListBody(list, [](const Json& e) {
                                       Json out = Json::object();
                                       for (const char* f : {"type", "reason", "message", "count",
                                                             "lastTimestamp", "involvedObject"}) {
                                         if (e.has_field(f)) out[f] = e.at(f);
                                       }
                                       return out;
                                     }));
             }));
  // The target chart: error ratio and pool saturation over the last minutes, from the
  // Prometheus the Remediation names, and only for a Remediation the caller may read.
  router.Add("GET", "/api/series", authed([](const Request& r, const Caller& c) {
               const std::string ns = Query(r, "namespace");
               const std::string name = Query(r, "name");
               if (ns.empty() || !IsDnsLabel(ns)) {
                 return FromInvalid({"namespace", "a valid namespace is required"});
               }
               if (!IsDnsSubdomain(name)) return FromInvalid({"name", "a valid name is required"});
               int minutes = 10;
               if (const std::string m = Query(r, "minutes"); !m.empty()) {
                 const bool digits = m.size() <= 3 && std::all_of(m.begin(), m.end(), [](char ch) {
                                       return ch >= '0' && ch <= '9';
                                     });
                 minutes = digits ? std::atoi(m.c_str()) : 0;
                 if (minutes < 1 || minutes > 180) {
                   return FromInvalid({"minutes", "must be 1 to 180"});
                 }
               }
               const Json rem = c.client->Resource(kRemediations, ns).Get(name);
               const SeriesQueries q = QueriesFor(rem);
               if (!q.error.empty()) return Response::Error(422, "InvalidSpec", q.error);
               if (q.prometheus_url.empty()) {
                 return Response::Error(404, "NoPrometheus",
                                        "Remediation " + name +
                                            " names no Prometheus (spec.detection.prometheus.url)");
               }
               const long end = static_cast<long>(std::time(nullptr));
               const int step = std::max(5, minutes * 60 / 120);
               Json body = Json::object();
               body["prometheus"] = Json::string(q.prometheus_url);
               body["step"] = Json::number(step);
               for (const auto& [field, query] :
                    {std::pair<const char*, std::string>{"errorRatio", q.error_ratio},
                     {"poolSaturation", q.pool_saturation}}) {
                 Json points = Json::array();
                 if (!query.empty()) {
                   http::GetOptions options;
                   options.timeout = std::chrono::milliseconds(3000);
                   options.max_body_bytes = 1 << 20;
                   options.user_agent = "poolguard-console";
                   const auto got = http::Get(
                       RangeUrl(q.prometheus_url, query, end, minutes * 60, step), options);
                   if (got.status != 200) {
                     return Response::Error(
                         502, "PrometheusError",
                         "Prometheus at " + q.prometheus_url + ": " +
                             (got.status == 0 ? got.error : "HTTP " + std::to_string(got.status)));
                   }
                   std::string error;
                   const auto series = ParseRange(got.body, &error);
                   if (!error.empty()) {
                     return Response::Error(502, "PrometheusError",
                                            "Prometheus at " + q.prometheus_url + ": " + error);
                   }
                   std::size_t i = 0;
                   for (const auto& [t, v] : series) {
                     points[i++] = Json::array({Json::number(t), Json::number(v)});
                   }
                 }
                 body[field] = points;
               }
               return Response::Json(200, body);
             }));
  // A long poll on a watch: answers as soon as the API server reports a change to the
  // resource after `resourceVersion` (or after 25 s with changed=false), so the page
  // re-reads within a second of the change.
  router.Add(
      "GET", "/api/watch", authed([](const Request& r, const Caller& c) {
        const std::string ns = Query(r, "namespace");
        if (auto bad = BadNamespace(ns)) return *bad;
        const std::string resource = Query(r, "resource");
        if (resource != "remediations" && resource != "chaosexperiments") {
          return FromInvalid({"resource", "must be remediations or chaosexperiments"});
        }
        const std::string rv = Query(r, "resourceVersion");
        if (rv.empty() || rv.size() > 32 ||
            !std::all_of(rv.begin(), rv.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
          return FromInvalid({"resourceVersion", "the list's resourceVersion is required"});
        }
        kube::ListOptions options;
        options.resource_version = rv;
        options.timeout_seconds = 25;
        Json body = Json::object();
        try {
          auto stream =
              c.client->Resource(resource == "remediations" ? kRemediations : kExperiments, ns)
                  .Watch(options);
          for (;;) {
            auto event = stream->Next();
            if (!event) {
              body["changed"] = Json::boolean(false);
              break;
            }
            if (event->type == kube::WatchEvent::Type::kBookmark) continue;
            body["changed"] = Json::boolean(true);
            stream->Stop();
            break;
          }
        } catch (const kube::ApiError& e) {
          if (!kube::IsGone(e)) throw;
          body["changed"] = Json::boolean(true);  // too old: read again
        }
        return Response::Json(200, body);
      }));

  // ---- the reference design's /break/* ----
  router.Add("POST", "/break/db_pool", authed([clients](const Request& r, const Caller& c) {
               auto parsed = ParseBreakDbPool(r.body);
               if (auto* bad = std::get_if<Invalid>(&parsed)) return FromInvalid(*bad);
               const BreakDbPool& req = std::get<BreakDbPool>(parsed);
               const auto list = c.client->Resource(kRemediations, req.ns).List(Page());
               auto picked = PickRemediation(list.items, req.remediation, req.target);
               if (auto* bad = std::get_if<Invalid>(&picked)) return FromInvalid(*bad, 422);
               const std::string user = clients->UserOf(c.token);
               const Json created =
                   c.client->Resource(kExperiments, req.ns)
                       .Create(ChaosExperimentFor(req, std::get<Json>(picked), user));
               Json body = Json::object();
               body["status"] = Json::string("DB pool exhaustion started");
               body["namespace"] = Json::string(req.ns);
               body["name"] = Json::string(json::StringAt(created, {"metadata", "name"}));
               body["requestedBy"] = Json::string(user);
               body["experiment"] = Trimmed(created);
               return Response::Json(201, body);
             }));
  router.Add("POST", "/break/abort", authed([clients](const Request& r, const Caller& c) {
               auto parsed = ParseExperimentRef(r.body);
               if (auto* bad = std::get_if<Invalid>(&parsed)) return FromInvalid(*bad);
               const auto& ref = std::get<ExperimentRef>(parsed);
               const std::string user = clients->UserOf(c.token);
               const Json patched = c.client->Resource(kExperiments, ref.ns)
                                        .Patch(ref.name, kube::PatchType::kMerge, AbortPatch(user));
               Json body = Json::object();
               body["status"] = Json::string("abort requested");
               body["namespace"] = Json::string(ref.ns);
               body["name"] = Json::string(ref.name);
               body["abortedBy"] = Json::string(user);
               body["experiment"] = Trimmed(patched);
               return Response::Json(200, body);
             }));
  // What the control API started: experiments labelled as the console's.
  router.Add("GET", "/break", authed([](const Request& r, const Caller& c) {
               const std::string ns = Query(r, "namespace");
               if (auto bad = BadNamespace(ns)) return *bad;
               kube::ListOptions options = Page();
               options.label_selector = std::string(kStartedByLabel) + "=console";
               return Response::Json(
                   200, ListBody(c.client->Resource(kExperiments, ns).List(options), Trimmed));
             }));

  // ---- the reference design's /action/* ----
  auto decide = [clients, authed](Decision decision) {
    return authed([clients, decision](const Request& r, const Caller& c) {
      auto parsed = ParseRemediationRef(r.body);
      if (auto* bad = std::get_if<Invalid>(&parsed)) return FromInvalid(*bad);
      const auto& ref = std::get<RemediationRef>(parsed);
      auto rem = c.client->Resource(kRemediations, ref.ns);
      const Json current = rem.Get(ref.remediation);
      const std::string user = clients->UserOf(c.token);
      auto patch = DecisionPatch(current, ref, decision, user);
      if (auto* bad = std::get_if<Invalid>(&patch)) return FromInvalid(*bad, 409);
      const Json patched =
          rem.Patch(ref.remediation, kube::PatchType::kMerge, std::get<Json>(patch));
      Json body = Json::object();
      body["status"] = Json::string(decision == Decision::kApprove ? "approved" : "rejected");
      body["namespace"] = Json::string(ref.ns);
      body["remediation"] = Json::string(ref.remediation);
      body["incident"] = Json::string(json::StringAt(current, {"status", "incident", "id"}));
      body["decidedBy"] = Json::string(user);
      body["remediationObject"] = Trimmed(patched);
      return Response::Json(200, body);
    });
  };
  router.Add("POST", "/action/approve", decide(Decision::kApprove));
  router.Add("POST", "/action/reject", decide(Decision::kReject));
  // After approve and reject (the first matching route wins). The reference design's
  // manual actions, through the Remediation's safety rules: the
  // controller records the request in status.manualRequest (Accepted or Refused, and why)
  // and, if accepted, acts once, with intent in status and verification as for any rung.
  router.Add("POST", "/action/{name}", authed([clients](const Request& r, const Caller& c) {
               const std::string action = ActionForRoute(r.params.at("name"));
               if (action.empty()) {
                 return Response::Error(404, "NotFound",
                                        "no action " + r.params.at("name").substr(0, 64) +
                                            ": restart-api, restart-db, increase-pool, "
                                            "terminate-blockers, approve, reject");
               }
               auto parsed = ParseRemediationRef(r.body);
               if (auto* bad = std::get_if<Invalid>(&parsed)) return FromInvalid(*bad);
               const auto& ref = std::get<RemediationRef>(parsed);
               if (!ref.incident.empty()) {
                 return FromInvalid({"incident", "is only for approve and reject"});
               }
               const std::string user = clients->UserOf(c.token);
               const std::string id = RequestId();
               const Json patched = c.client->Resource(kRemediations, ref.ns)
                                        .Patch(ref.remediation, kube::PatchType::kMerge,
                                               ManualActionPatch(id, action, user));
               Json body = Json::object();
               body["status"] = Json::string("requested");
               body["requestId"] = Json::string(id);
               body["action"] = Json::string(action);
               body["namespace"] = Json::string(ref.ns);
               body["remediation"] = Json::string(ref.remediation);
               body["requestedBy"] = Json::string(user);
               body["remediationObject"] = Trimmed(patched);
               return Response::Json(202, body);
             }));
  // What the Remediations did: each one's phase and open (or last) incident with its actions.
  router.Add("GET", "/action", authed([](const Request& r, const Caller& c) {
               const std::string ns = Query(r, "namespace");
               if (auto bad = BadNamespace(ns)) return *bad;
               return Response::Json(
                   200,
                   ListBody(c.client->Resource(kRemediations, ns).List(Page()), [](const Json& o) {
                     Json out = Json::object();
                     out["namespace"] = Json::string(json::StringAt(o, {"metadata", "namespace"}));
                     out["name"] = Json::string(json::StringAt(o, {"metadata", "name"}));
                     out["phase"] = Json::string(json::StringAt(o, {"status", "phase"}));
                     out["message"] = Json::string(json::StringAt(o, {"status", "message"}));
                     if (o.has_field("status") && o.at("status").has_field("incident")) {
                       out["incident"] = o.at("status").at("incident");
                     }
                     return out;
                   }));
             }));
  return router;
}

}  // namespace poolguard::console
