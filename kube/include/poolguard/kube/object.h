#pragma once

// The shape every Kubernetes object shares, as JSON: what a controller's decisions need
// from the API's vocabulary without a client (see client.h for reading and writing).

#include <cpprest/json.h>

#include <string>

namespace poolguard::kube {

// Objects are cpprestsdk's web::json::value: controllers read and write arbitrary fields of
// arbitrary kinds (including custom resources), so the library does not impose typed structs.
// A web::json::value copy is a deep copy.
using Json = web::json::value;

/// Helpers for the fields every object has; missing fields read as "".
std::string NameOf(const Json& object);
std::string NamespaceOf(const Json& object);
std::string ResourceVersionOf(const Json& object);
std::string UidOf(const Json& object);
/// "namespace/name", or "name" for cluster-scoped objects: the work-queue key.
std::string KeyOf(const Json& object);

}  // namespace poolguard::kube
