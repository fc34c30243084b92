#pragma once

// The protobuf ↔ JSON layout of the built-in kinds, generated from k8s.io/api's Go types by
// kube/tools/protogen into proto_schema.cc. Private to the library.

#include <cstdint>
#include <span>

namespace poolguard::kube::proto {

/// What one field (or each element of a repeated field, or each value of a map) holds.
enum class Kind : uint8_t {
  kString,
  kBool,
  kInt32,
  kInt64,
  kUint32,
  kUint64,
  kFloat64,
  kFloat32,
  kBytes,    // []byte: base64 in JSON
  kMessage,  // a Go struct: a nested message, a JSON object
  // Types with a JSON encoding of their own (MarshalJSON):
  kTime,          // metav1.Time: Timestamp{seconds}, RFC 3339 in seconds, null when zero
  kMicroTime,     // metav1.MicroTime: Timestamp{seconds, nanos}, RFC 3339 with microseconds
  kDuration,      // metav1.Duration: {duration (ns)}, Go's time.Duration.String()
  kQuantity,      // resource.Quantity: {string}, that string
  kIntOrString,   // intstr.IntOrString: {type, intVal, strVal}, a number or a string
  kRawExtension,  // runtime.RawExtension: {raw}, the raw JSON
  kFieldsV1,      // metav1.FieldsV1: {Raw}, the raw JSON
};

enum Flags : uint8_t {
  kRepeated = 1,   // a Go slice: JSON array (null when empty and not omitempty)
  kOmitEmpty = 2,  // json:",omitempty"
  kPointer = 4,    // a Go pointer: absent = nil
  kMap = 8,        // map[string]<kind>: protobuf map entries {key = 1, value = 2}
  kWrapped = 16,   // map value is a Go named slice: a message whose field 1 repeats the items
  kInline = 32,    // an embedded struct (json:",inline"): its fields are the parent's
  kOmitZero = 64,  // json:",omitzero" (only on times: omitted when zero)
};

struct Field {
  const char* json;  // JSON key; nullptr for kInline
  uint32_t number;   // protobuf field number; 0 = not encoded (TypeMeta)
  Kind kind;
  uint8_t flags;
  int32_t message;  // index in Messages() for kMessage, else -1
};

struct Message {
  const char* name;  // Go package path and type name
  uint32_t first_field;
  uint32_t num_fields;
};

struct KindEntry {
  const char* group;
  const char* version;
  const char* kind;
  const char* resource;  // plural guessed from the kind (meta.UnsafeGuessKindToResource)
  uint32_t message;
};

std::span<const Field> Fields();
std::span<const Message> Messages();
std::span<const KindEntry> Kinds();
const char* SchemaVersion();  // the k8s.io/api version generated from

}  // namespace poolguard::kube::proto
