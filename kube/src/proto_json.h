#pragma once

// Protobuf → JSON for the built-in kinds: the API server's protobuf encoding of an object
// (application/vnd.kubernetes.protobuf) turned into exactly the JSON text the server sends
// for it (Go's encoding/json over the k8s.io/api types: field order, omitempty, sorted map
// keys, HTML-safe string escapes, the types with JSON encodings of their own), using the
// generated layout in proto_schema.h. Private to the library.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "proto_schema.h"

namespace poolguard::kube::proto {

/// Malformed protobuf, an unknown kind or field, or content the transcoder cannot render as
/// the server would (CBOR inside a RawExtension, ...).
class ProtoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::string_view kMagic{"k8s\0", 4};
inline constexpr const char* kMediaType = "application/vnd.kubernetes.protobuf";

/// True for a Content-Type of application/vnd.kubernetes.protobuf (parameters ignored).
bool IsProtobuf(std::string_view content_type);

/// runtime.Unknown, the envelope of an object: its apiVersion and kind, and its encoding.
struct Envelope {
  std::string_view api_version;
  std::string_view kind;
  std::string_view raw;
  std::string_view content_encoding;
  std::string_view content_type;
};
/// `data` is kMagic followed by the envelope.
Envelope ParseEnvelope(std::string_view data);

/// Appends the JSON text of the object in `data` (kMagic + envelope), apiVersion and kind
/// from the envelope. Throws ProtoError.
void AppendJson(std::string_view data, std::string* out);
std::string ToJson(std::string_view data);

/// One metav1.WatchEvent (a frame of a protobuf watch): its type and its object's bytes
/// (kMagic + envelope).
struct WatchEventView {
  std::string_view type;
  std::string_view object;
};
WatchEventView ParseWatchEvent(std::string_view message);

/// The built-in kind served as `resource` of group/version, or nullptr.
const KindEntry* FindResource(std::string_view group, std::string_view version,
                              std::string_view resource);

// Go's encoding/json pieces, exposed for the tests.

/// A JSON string literal as Go writes it: \" \\ \b \f \n \r \t, other control bytes as
/// \u00XX, < > & U+2028 U+2029 as \u escapes, invalid UTF-8 as \ufffd.
void AppendGoString(std::string_view s, std::string* out);
/// A float64 as encoding/json writes it (shortest round-trip; exponent form below 1e-6 and
/// from 1e21). Throws ProtoError for NaN and infinities (Go refuses them).
void AppendGoFloat(double v, std::string* out);
void AppendGoFloat32(float v, std::string* out);
/// time.Duration.String().
std::string GoDuration(int64_t ns);
/// The JSON a MarshalJSON returned, as encoding/json embeds it: whitespace outside strings
/// removed, < > & U+2028 U+2029 escaped. Throws ProtoError if `raw` is not one JSON value
/// (encoding/json refuses it too).
void AppendCompactJson(std::string_view raw, std::string* out);

}  // namespace poolguard::kube::proto
