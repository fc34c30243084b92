#pragma once

// Kubernetes object names as specs give them: checked before they reach a URL path or a
// query, so that "a/../b" or "x?y" can never address another object.

#include <string>
#include <string_view>

namespace poolguard::controller {

/// A DNS-1123 label (Services, containers): 1-63 of [a-z0-9-], starting and ending with
/// an alphanumeric. "" when `name` is one, else why not.
std::string CheckDnsLabel(std::string_view name);
/// A DNS-1123 subdomain (Deployments, StatefulSets, Secrets): at most 253, dot-separated
/// labels. "" when `name` is one, else why not.
std::string CheckDnsSubdomain(std::string_view name);

}  // namespace poolguard::controller
