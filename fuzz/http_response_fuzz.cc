// The HTTP client's response parser, fed what a hostile target or Prometheus could send,
// in pieces whose sizes the input chooses (the parser must give the same answer however
// the bytes arrive).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "poolguard/common/http_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  poolguard::http::ResponseParser whole(1 << 16), pieces(1 << 16);
  whole.Feed(bytes);
  for (size_t i = 0; i < bytes.size(); i += piece) pieces.Feed(bytes.substr(i, piece));
  whole.Finish();
  pieces.Finish();
  if (whole.state() != pieces.state() || whole.status() != pieces.status() ||
      whole.body() != pieces.body()) {
    __builtin_trap();  // the answer depends on how the bytes were split
  }
  return 0;
}
