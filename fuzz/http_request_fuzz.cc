// What the server does with a request's bytes before a handler sees them: Beast's parser
// with the server's limits, the router's match and percent-decoding of the path, and the
// query string's decoding.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "poolguard/common/http_server.h"

namespace {

poolguard::http::Router MakeRouter() {
  using poolguard::http::Request;
  using poolguard::http::Response;
  poolguard::http::Router router;
  for (const char* path : {"/livez", "/metrics", "/items", "/items/{id}", "/a/{x}/b/{y}"}) {
    router.Add("GET", path, [](const Request&) { return Response::Text(200, ""); });
  }
  router.Add("POST", "/items", [](const Request&) { return Response::Text(200, ""); });
  return router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const poolguard::http::Router router = MakeRouter();
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  const std::string target(reinterpret_cast<const char*>(data), size);
  std::string_view path = target, query;
  if (const auto q = target.find('?'); q != std::string::npos) {
    path = std::string_view(target).substr(0, q);
    query = std::string_view(target).substr(q + 1);
  }
  const auto match = router.Find("GET", path);
  if (match.status == poolguard::http::Router::MatchStatus::kBadPath && match.error.empty()) {
    __builtin_trap();  // a refusal must say why
  }
  std::string error;
  const auto pairs = poolguard::http::ParseQuery(query, &error);
  if (!pairs && error.empty()) __builtin_trap();
  (void)poolguard::http::PercentDecode(target);
  return 0;
}
