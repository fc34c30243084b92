// kubeconfig text: anything malformed is a ConfigError naming the file and field.
#include <cstddef>
#include <cstdint>
#include <string>

#include "poolguard/kube/config.h"
#include "poolguard/kube/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Paths to devices and kernel files are an operator's mistake, not parsing: a read of
  // /dev/stdin would only wait.
  for (const char* special : {"/dev", "/proc", "/sys", "/run"}) {
    if (text.find(special) != std::string::npos) return 0;
  }
  try {
    poolguard::kube::ParseKubeconfig(text, "fuzz.kubeconfig", "/nonexistent-fuzz-dir");
  } catch (const poolguard::kube::ConfigError&) {
  }
  return 0;
}
