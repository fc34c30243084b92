#pragma once

#include <cpprest/json.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolguard/kube/clock.h"
#include "poolguard/kube/config.h"
#include "poolguard/kube/errors.h"
#include "poolguard/kube/object.h"

namespace poolguard::kube {

/// Names a resource type: `{"apps", "v1", "deployments"}`; core types have group "".
struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;  // plural, lower case, as in the URL
  bool namespaced = true;
};

/// Query options of list and watch.
struct ListOptions {
  std::string label_selector;          // "app=api,tier!=db"
  std::string field_selector;          // "metadata.name=x"
  int64_t limit = 0;                   // page size; 0 = everything at once
  std::string continue_token;          // from the previous page
  std::string resource_version;        // "" = most recent (quorum read)
  std::optional<int> timeout_seconds;  // watch: server closes the stream after this
  /// Watch only: the server first streams the current state as ADDED events, then a BOOKMARK
  /// annotated `k8s.io/initial-events-end: "true"`, then changes (a "watch-list"; needs
  /// resource_version_match = "NotOlderThan" and the API server's WatchList feature).
  bool send_initial_events = false;
  std::string resource_version_match;  // "", "NotOlderThan" or "Exact"
};

/// The annotation on the BOOKMARK that ends a watch-list's initial events.
inline constexpr const char* kInitialEventsEndAnnotation = "k8s.io/initial-events-end";

/// One page of a list.
struct ObjectList {
  std::vector<Json> items;
  std::string resource_version;  // of the list, to start a watch from
  std::string continue_token;    // non-empty if there are more pages
};

/// One page of a list with every item as its JSON text, as the server sent it (no
/// web::json::value trees are built): for caches that keep objects serialized.
struct RawObjectList {
  std::vector<std::string> items;
  std::string resource_version;
  std::string continue_token;
};

enum class PropagationPolicy { kDefault, kOrphan, kBackground, kForeground };

struct DeleteOptions {
  PropagationPolicy propagation = PropagationPolicy::kDefault;
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;               // delete only if the uid still matches
  std::string precondition_resource_version;  // delete only if unchanged since read
  bool dry_run = false;
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902); the patch is an array
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in kinds only)
  kApply,           // application/apply-patch+yaml: server-side apply; needs field_manager
};

struct WriteOptions {
  std::string field_manager;  // recorded in managedFields
  bool dry_run = false;
};

struct PatchOptions {
  std::string field_manager;  // required for kApply
  bool force = false;         // kApply: take ownership of conflicting fields
  bool dry_run = false;
};

struct ClientOptions {
  std::chrono::seconds request_timeout{30};
  std::string user_agent = "poolguard-kube/0.1";
  std::shared_ptr<Clock> clock;  // default: Clock::Real()
  /// Watches of built-in kinds (informers' syncs included) ask for protobuf
  /// (application/vnd.kubernetes.protobuf, which the API server encodes ~2.5x faster than
  /// JSON) and turn each object into the JSON text the server would have sent; so do
  /// ResourceClient::ListRaw (an informer's paged LIST). false: JSON only. Custom resources
  /// are JSON either way.
  bool protobuf = true;
};

/// One event of a watch stream.
struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type;
  Json object;  // the object; for kError the Status (see ErrorFromStatus)
};

/// A watch event whose object is its JSON text, as the server sends it (for built-in kinds
/// received as protobuf: the identical text, transcoded).
struct RawWatchEvent {
  WatchEvent::Type type;
  std::string object;  // JSON text ("null" if the event had no object)
};

/// Turns the Status object of a watch ERROR event into an ApiError (410 → kGone, ...).
ApiError ErrorFromStatus(const Json& status);

/// One open watch request. Next() blocks the calling thread — which must be a thread of the
/// caller's own, never a cpprestsdk continuation. Stop() may be called from any thread and
/// makes a blocked Next() return std::nullopt.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  /// The next event, or std::nullopt once the server ended the stream (normal after
  /// timeout_seconds) or Stop() was called. Throws ApiError (kTransport) if the connection
  /// broke mid-stream or a line is not a watch event.
  virtual std::optional<WatchEvent> Next() = 0;
  /// Next() without parsing the object: its JSON text. Use one of Next() and NextRaw() per
  /// stream. The default serializes Next()'s object; the Client's own streams return the
  /// server's text without building a tree.
  virtual std::optional<RawWatchEvent> NextRaw();
  virtual void Stop() = 0;
};

class ResourceClient;

/// Talks to one API server. Thread-safe: share one Client (through shared_ptr) among all
/// threads. All calls are synchronous and throw ApiError; call them from your own threads.
class Client : public std::enable_shared_from_this<Client> {
 public:
  /// Throws ConfigError if `config` cannot be used (bad server URL, unreadable PEM).
  static std::shared_ptr<Client> Create(const Config& config, ClientOptions options = {});
  /// Sizes the I/O threads every Client shares (cpprestsdk's pool: 40 by default; the
  /// calls block their callers' threads, nothing blocks on these). Call once, before the
  /// first Client is made and after the caller has blocked the signals these threads must
  /// not take. Returns false (and changes nothing) if the pool already runs.
  static bool SetIoThreads(size_t threads);
  virtual ~Client() = default;

  /// Typed-by-URL access to one resource type, in `ns` ("" = all namespaces for
  /// list/watch, or the object's own metadata.namespace for writes).
  ResourceClient Resource(const GroupVersionResource& gvr, const std::string& ns = "");

  struct Response {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
    /// The header's value ("" if absent); the name is matched ignoring case, as HTTP does.
    std::string Header(std::string_view name) const;
  };
  /// Low-level request: `path` like "/api/v1/namespaces", `query` already-unescaped
  /// key/values. Does not throw on HTTP errors (only on transport failure).
  virtual Response Raw(const std::string& method, const std::string& path,
                       const std::map<std::string, std::string>& query = {},
                       const std::string& body = "", const std::string& content_type = "") = 0;
  /// Raw() of a GET with `accept` as the Accept header (Raw() asks for application/json);
  /// the body as sent, binary included. The default ignores `accept`; the Client's own
  /// honours it unless ClientOptions::protobuf is false.
  virtual Response RawAccept(const std::string& path,
                             const std::map<std::string, std::string>& query,
                             const std::string& accept);
  /// Raw() plus: non-2xx → ApiError; the body parsed as JSON.
  Json Do(const std::string& method, const std::string& path,
          const std::map<std::string, std::string>& query = {}, const std::string& body = "",
          const std::string& content_type = "application/json");
  /// Do() without parsing: the body of the 2xx answer as text (same errors and retries).
  std::string DoText(const std::string& method, const std::string& path,
                     const std::map<std::string, std::string>& query = {},
                     const std::string& body = "",
                     const std::string& content_type = "application/json");
  /// Opens a streaming watch on `path` with `query` (watch=1 added). Throws ApiError if the
  /// server refuses it.
  virtual std::unique_ptr<WatchStream> OpenWatch(const std::string& path,
                                                 std::map<std::string, std::string> query,
                                                 std::chrono::seconds inactivity_timeout) = 0;
  /// OpenWatch() offering `accept` (e.g. "application/vnd.kubernetes.protobuf,
  /// application/json"); the stream hands out JSON text whatever the server answers with.
  /// The default ignores `accept`; the Client's own honours it unless
  /// ClientOptions::protobuf is false.
  virtual std::unique_ptr<WatchStream> OpenWatchAccept(const std::string& path,
                                                       std::map<std::string, std::string> query,
                                                       std::chrono::seconds inactivity_timeout,
                                                       const std::string& accept);

  virtual const Config& config() const = 0;
  virtual std::shared_ptr<Clock> clock() const = 0;
};

/// A (client, resource type, namespace) triple; cheap to copy; thread-safe like Client.
class ResourceClient {
 public:
  ResourceClient(std::shared_ptr<Client> client, GroupVersionResource gvr, std::string ns);

  Json Get(const std::string& name, const std::string& subresource = "") const;
  /// One page (or everything if options.limit == 0).
  ObjectList List(const ListOptions& options = {}) const;
  /// Follows `continue` until the end; the list's resource_version is the first page's.
  ObjectList ListAll(ListOptions options) const;
  /// List() with the items as JSON text (see RawObjectList).
  RawObjectList ListRaw(const ListOptions& options = {}) const;
  Json Create(const Json& object, const WriteOptions& options = {}) const;
  /// PUT of the whole object; its metadata.resourceVersion makes it a compare-and-swap
  /// (stale → kConflict).
  Json Update(const Json& object, const WriteOptions& options = {}) const;
  /// PUT to the status subresource.
  Json UpdateStatus(const Json& object, const WriteOptions& options = {}) const;
  /// Returns what the server answered (the object while finalizers run, or a Status).
  Json Delete(const std::string& name, const DeleteOptions& options = {}) const;
  Json Patch(const std::string& name, PatchType type, const Json& patch,
             const PatchOptions& options = {}, const std::string& subresource = "") const;
  /// Server-side apply of `object` (its metadata.name names it).
  Json Apply(const Json& object, const std::string& field_manager, bool force = false) const;
  /// The scale subresource (autoscaling/v1 Scale).
  Json GetScale(const std::string& name) const;
  Json SetScale(const std::string& name, int32_t replicas) const;
  /// Opens a watch (allowWatchBookmarks=true) with the list options' selectors,
  /// resource_version and, for a watch-list, send_initial_events and
  /// resource_version_match.
  std::unique_ptr<WatchStream> Watch(const ListOptions& options) const;

  /// "/apis/apps/v1/namespaces/ns/deployments[/name[/subresource]]".
  std::string Path(const std::string& ns, const std::string& name = "",
                   const std::string& subresource = "") const;
  const GroupVersionResource& gvr() const { return gvr_; }
  const std::string& ns() const { return ns_; }
  const std::shared_ptr<Client>& client() const { return client_; }

 private:
  std::string NamespaceOf(const Json& object) const;

  std::shared_ptr<Client> client_;
  GroupVersionResource gvr_;
  std::string ns_;
};

}  // namespace poolguard::kube
