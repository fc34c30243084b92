#pragma once

// ClusterReader on the Kubernetes API, and the EndpointSlice walk both kinds use.

#include <memory>
#include <string>
#include <vector>

#include "core/cluster_reader.h"
#include "poolguard/kube/client.h"

namespace poolguard::controller {

/// The endpoints of `service`'s port `port` (a Service port), through its EndpointSlices,
/// ready or not. Throws ResolveError (no such Service or port), kube::ApiError.
std::vector<PodEndpoint> ServiceEndpoints(kube::Client& client, const std::string& ns,
                                          const std::string& service, int port);

std::unique_ptr<ClusterReader> NewClusterReader(std::shared_ptr<kube::Client> client);

/// Decodes standard base64 (Secret data). Throws ResolveError on bad input.
std::string DecodeBase64(const std::string& text);

}  // namespace poolguard::controller
