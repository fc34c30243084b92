#pragma once

// The watch transport: one HTTP/1.1 connection per watch, driven by Boost.Beast on the
// thread that reads it (Next/NextRaw), so that a body streamed at full speed — a
// watch-list's initial state — costs no thread hand-over per chunk as cpprestsdk's
// http_client does. Private to the library.

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "poolguard/kube/client.h"

namespace poolguard::kube::internal {

/// Applies the TLS parts of a Config (CA, client certificate and key) to a context. Throws
/// boost::system::system_error on bad PEM.
void ApplyTls(const Config& config, boost::asio::ssl::context& ctx);

struct WatchRequest {
  std::string scheme;                                        // "https" or "http"
  std::string host;                                          // to connect to
  int port = 0;                                              // 0: the scheme's default
  std::string target;                                        // path?query, escaped
  std::vector<std::pair<std::string, std::string>> headers;  // Host and auth included
  std::chrono::seconds connect_timeout{30};                  // connect, TLS, answer header
  std::chrono::seconds inactivity_timeout{360};              // longest wait for body bytes
  std::string what;                                          // "watch /api/v1/..." for errors
  /// Called (on the reading thread) when a protobuf frame cannot be turned into JSON, before
  /// Next/NextRaw throws: the caller should ask for JSON from then on.
  std::function<void(const std::string& why)> on_protobuf_error;
};

/// Connects, sends the request and reads the answer's header. Throws ApiError: from the
/// answer's Status when it is not 200, kTimeout or kTransport otherwise.
std::unique_ptr<WatchStream> OpenWatchStream(const Config& config, const WatchRequest& request);

/// Turns one frame of a protobuf watch (a metav1.WatchEvent) into the event with its object
/// as the JSON text the server would have sent. Throws ApiError (kTransport).
RawWatchEvent ParseWatchFrame(std::string_view frame, const std::string& what);

/// A protobuf answer (a Status) as JSON; the body unchanged if it cannot be read.
std::string ProtobufBodyAsJson(const std::string& body);

/// Parses one line of a watch body ({"type":...,"object":...}) without building a tree.
RawWatchEvent ParseWatchLine(std::string_view line, const std::string& what);

}  // namespace poolguard::kube::internal
