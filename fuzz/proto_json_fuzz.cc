// The protobuf-to-JSON transcoder that reads the API server's answers for built-in kinds,
// and a watch frame: whatever the bytes, it reads them or reports them unreadable.
#include <cstddef>
#include <cstdint>
#include <string>

#include "poolguard/kube/errors.h"
#include "proto_json.h"
#include "watch_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)poolguard::kube::proto::ToJson(bytes);
  } catch (const std::exception&) {
  }
  try {
    (void)poolguard::kube::internal::ParseWatchFrame(bytes, "fuzz");
  } catch (const poolguard::kube::ApiError&) {
  }
  (void)poolguard::kube::internal::ProtobufBodyAsJson(std::string(bytes));
  return 0;
}
