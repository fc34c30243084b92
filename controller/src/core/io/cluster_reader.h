#pragma once

// ClusterReader on the Kubernetes API, and the EndpointSlice walk both kinds use.

#include <memory>
#include <string>
#include <vector>

#include "core/cluster_reader.h"
#include "core/object_cache.h"
#include "poolguard/kube/client.h"

namespace poolguard::controller {

/// The endpoints of `service`'s port `port` (a Service port), through its EndpointSlices,
/// ready or not, read from `caches` where they have synced. Throws ResolveError (no such
/// Service or port), kube::ApiError.
std::vector<PodEndpoint> ServiceEndpoints(kube::Client& client, const std::string& ns,
                                          const std::string& service, int port,
                                          const ReadCaches& caches = {});

/// `ns/name` from `cache` once it has synced, else a GET; nullopt: not found.
std::optional<kube::Json> GetObject(kube::Client& client, ObjectCache* cache,
                                    const kube::GroupVersionResource& gvr, const std::string& ns,
                                    const std::string& name);

/// The index kServiceIndex for an EndpointSlice cache: "<ns>/<kubernetes.io/service-name>".
std::vector<std::string> ServiceIndexOf(const kube::Json& slice);

/// `caches` serve ResolveService (Services, EndpointSlices); the rest is read from the API
/// server (the chaos guardrails and the StatefulSet a fault scales want the truth now).
std::unique_ptr<ClusterReader> NewClusterReader(std::shared_ptr<kube::Client> client,
                                                ReadCaches caches = {});

/// Decodes standard base64 (Secret data). Throws ResolveError on bad input.
std::string DecodeBase64(const std::string& text);

}  // namespace poolguard::controller
