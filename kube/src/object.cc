#include "poolguard/kube/object.h"

#include "poolguard/common/json_util.h"

namespace poolguard::kube {

std::string NameOf(const Json& object) { return json::StringAt(object, {"metadata", "name"}); }
std::string NamespaceOf(const Json& object) {
  return json::StringAt(object, {"metadata", "namespace"});
}
std::string ResourceVersionOf(const Json& object) {
  return json::StringAt(object, {"metadata", "resourceVersion"});
}
std::string UidOf(const Json& object) { return json::StringAt(object, {"metadata", "uid"}); }
std::string KeyOf(const Json& object) {
  std::string ns = NamespaceOf(object);
  return ns.empty() ? NameOf(object) : ns + "/" + NameOf(object);
}

}  // namespace poolguard::kube
