#include "proto_json.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace poolguard::kube::proto {
namespace {

// ---- protobuf wire format ---------------------------------------------------------------

enum Wire : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// One field occurrence: its number, wire type, and value (u for varint/fixed, b for len).
struct Value {
  uint32_t number = 0;
  uint8_t wire = 0;
  uint64_t u = 0;
  std::string_view b;
};

class Reader {
 public:
  explicit Reader(std::string_view s)
      : p_(reinterpret_cast<const uint8_t*>(s.data())), end_(p_ + s.size()) {}

  bool Done() const { return p_ >= end_; }

  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) throw ProtoError("protobuf: truncated varint");
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw ProtoError("protobuf: varint longer than 10 bytes");
  }

  // The next field; false at the end.
  bool Next(Value* v) {
    if (Done()) return false;
    uint64_t tag = Varint();
    v->number = static_cast<uint32_t>(tag >> 3);
    v->wire = static_cast<uint8_t>(tag & 7);
    if (v->number == 0 || (tag >> 3) > 0x1fffffff) throw ProtoError("protobuf: bad field number");
    switch (v->wire) {
      case kVarint:
        v->u = Varint();
        v->b = {};
        return true;
      case kFixed64:
        v->u = Fixed(8);
        return true;
      case kFixed32:
        v->u = Fixed(4);
        return true;
      case kLen: {
        uint64_t n = Varint();
        if (n > static_cast<uint64_t>(end_ - p_)) throw ProtoError("protobuf: truncated field");
        v->b = std::string_view(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return true;
      }
      default:
        throw ProtoError("protobuf: unsupported wire type " + std::to_string(v->wire));
    }
  }

 private:
  uint64_t Fixed(int n) {
    if (end_ - p_ < n) throw ProtoError("protobuf: truncated fixed field");
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
    p_ += n;
    return v;
  }

  const uint8_t* p_;
  const uint8_t* end_;
};

// ---- layout lookups -------------------------------------------------------------------

struct Layout {
  // For each message: field number → index of the field within the message (-1: none).
  std::vector<std::vector<int16_t>> by_number;
  std::unordered_map<std::string, uint32_t> by_type;      // "apiVersion\0kind"
  std::unordered_map<std::string, uint32_t> by_resource;  // "group/version/resource"
  uint32_t type_meta = UINT32_MAX;                        // metav1.TypeMeta
};

void AppendLen(uint32_t number, std::string_view bytes, std::string* out) {
  auto varint = [out](uint64_t v) {
    while (v >= 0x80) {
      out->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out->push_back(static_cast<char>(v));
  };
  varint((uint64_t{number} << 3) | 2);
  varint(bytes.size());
  out->append(bytes);
}

const Layout& GetLayout() {
  static const Layout layout = [] {
    Layout l;
    auto fields = Fields();
    auto messages = Messages();
    l.by_number.resize(messages.size());
    for (size_t m = 0; m < messages.size(); ++m) {
      if (std::strcmp(messages[m].name, "k8s.io/apimachinery/pkg/apis/meta/v1.TypeMeta") == 0) {
        l.type_meta = static_cast<uint32_t>(m);
      }
      auto& v = l.by_number[m];
      for (uint32_t i = 0; i < messages[m].num_fields; ++i) {
        const Field& f = fields[messages[m].first_field + i];
        if (f.number == 0) continue;
        if (v.size() <= f.number) v.resize(f.number + 1, -1);
        v[f.number] = static_cast<int16_t>(i);
      }
    }
    for (size_t k = 0; k < Kinds().size(); ++k) {
      const KindEntry& e = Kinds()[k];
      std::string gv = *e.group ? std::string(e.group) + "/" + e.version : e.version;
      l.by_type.emplace(gv + std::string(1, '\0') + e.kind, e.message);
      l.by_resource.emplace(std::string(e.group) + "/" + e.version + "/" + e.resource,
                            static_cast<uint32_t>(k));
    }
    return l;
  }();
  return layout;
}

// ---- Go's encoding/json ----------------------------------------------------------------

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence at s[i] (2..4) and its code point, or 0 if invalid
// (as Go's utf8.DecodeRuneInString: no overlongs, no surrogates, nothing above U+10FFFF).
int DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  size_t left = s.size() - i;
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xc0) == 0x80; };
  if (c >= 0xc2 && c <= 0xdf) {
    if (left < 2 || !cont(i + 1)) return 0;
    *cp = ((c & 0x1fu) << 6) | (b(i + 1) & 0x3fu);
    return 2;
  }
  if (c >= 0xe0 && c <= 0xef) {
    if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    uint8_t c1 = b(i + 1);
    if (c == 0xe0 && c1 < 0xa0) return 0;  // overlong
    if (c == 0xed && c1 > 0x9f) return 0;  // surrogate
    *cp = ((c & 0x0fu) << 12) | ((c1 & 0x3fu) << 6) | (b(i + 2) & 0x3fu);
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    uint8_t c1 = b(i + 1);
    if (c == 0xf0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xf4 && c1 > 0x8f) return 0;  // above U+10FFFF
    *cp =
        ((c & 0x07u) << 18) | ((c1 & 0x3fu) << 12) | ((b(i + 2) & 0x3fu) << 6) | (b(i + 3) & 0x3fu);
    return 4;
  }
  return 0;
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

template <typename F>
void AppendFloat(F v, std::string* out) {
  if (!std::isfinite(v)) throw ProtoError("json: unsupported value: NaN or infinity");
  // encoding/json's floatEncoder: 'f' unless the magnitude calls for an exponent.
  F abs = std::fabs(v);
  bool exp = false;
  if (abs != 0) {
    if constexpr (sizeof(F) == 8) {
      exp = abs < 1e-6 || abs >= 1e21;
    } else {
      exp = abs < static_cast<F>(1e-6) || abs >= static_cast<F>(1e21);
    }
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v,
                         exp ? std::chars_format::scientific : std::chars_format::fixed);
  std::string_view s(buf, r.ptr - buf);
  if (exp) {
    // Go writes e-07 as e-7 (two-digit exponents keep no leading zero).
    size_t n = s.size();
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') {
      out->append(s.substr(0, n - 2));
      out->push_back(s[n - 1]);
      return;
    }
  }
  out->append(s);
}

void AppendBase64(std::string_view b, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out->push_back('"');
  size_t i = 0;
  auto u = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(b[k])); };
  for (; i + 3 <= b.size(); i += 3) {
    uint32_t v = (u(i) << 16) | (u(i + 1) << 8) | u(i + 2);
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  if (size_t rest = b.size() - i; rest > 0) {
    uint32_t v = u(i) << 16;
    if (rest == 2) v |= u(i + 1) << 8;
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out->push_back('=');
  }
  out->push_back('"');
}

// Days since 1970-01-01 → civil date (Howard Hinnant's algorithm).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

// "2006-01-02T15:04:05[.000000]Z" for a Unix time in UTC.
void AppendRfc3339(int64_t seconds, int micros, bool with_micros, std::string* out) {
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t y;
  unsigned mo, d;
  CivilFromDays(days, &y, &mo, &d);
  if (y < 0 || y > 9999) throw ProtoError("time: year " + std::to_string(y) + " out of range");
  char buf[40];
  int n;
  int h = static_cast<int>(rem / 3600), mi = static_cast<int>(rem / 60 % 60),
      s = static_cast<int>(rem % 60);
  if (with_micros) {
    n = std::snprintf(buf, sizeof buf, "\"%04d-%02u-%02uT%02d:%02d:%02d.%06dZ\"",
                      static_cast<int>(y), mo, d, h, mi, s, micros);
  } else {
    n = std::snprintf(buf, sizeof buf, "\"%04d-%02u-%02uT%02d:%02d:%02dZ\"", static_cast<int>(y),
                      mo, d, h, mi, s);
  }
  out->append(buf, static_cast<size_t>(n));
}

// ---- transcoding ---------------------------------------------------------------------------

// Seconds of Go's zero time.Time (January 1, year 1, UTC) since the Unix epoch.
constexpr int64_t kZeroTimeUnix = -62135596800;
// January 1 of the years 0 and 10000, UTC.
constexpr int64_t kYear0Unix = -62167219200;
constexpr int64_t kYear10000Unix = 253402300800;

struct Occ {
  int16_t pos;  // index of the field in its message
  Value v;
};

// Nesting of objects the transcoder follows. The layout is at most 14 deep except through
// a type that contains itself (scheduling's CompositePodGroupTemplate): there the input sets
// the depth, and each level costs a few hundred bytes of stack.
constexpr int kMaxDepth = 512;

class Transcoder {
 public:
  explicit Transcoder(std::string* out) : out_(out), layout_(GetLayout()) {}

  void Object(uint32_t message, std::string_view bytes, const Envelope* top) {
    if (depth_ >= kMaxDepth) {
      throw ProtoError("protobuf: objects nested more than " + std::to_string(kMaxDepth) + " deep");
    }
    ++depth_;
    out_->push_back('{');
    bool first = true;
    WriteFields(message, bytes, top, &first);
    out_->push_back('}');
    --depth_;
  }

 private:
  // Writes the members of `message` (encoded as `bytes`) into the object being written.
  void WriteFields(uint32_t message, std::string_view bytes, const Envelope* top, bool* first) {
    const Message& m = Messages()[message];
    const Field* fields = Fields().data() + m.first_field;
    const std::vector<int16_t>& by_number = layout_.by_number[message];
    std::vector<Occ> occs;
    Reader r(bytes);
    Value v;
    while (r.Next(&v)) {
      int16_t pos = v.number < by_number.size() ? by_number[v.number] : -1;
      if (pos < 0) {
        throw ProtoError(std::string("protobuf: ") + m.name + " has no field " +
                         std::to_string(v.number) + " (built for k8s.io/api " + SchemaVersion() +
                         ")");
      }
      occs.push_back({pos, v});
    }
    if (!std::is_sorted(occs.begin(), occs.end(),
                        [](const Occ& a, const Occ& b) { return a.pos < b.pos; })) {
      std::stable_sort(occs.begin(), occs.end(),
                       [](const Occ& a, const Occ& b) { return a.pos < b.pos; });
    }
    size_t j = 0;
    for (uint32_t i = 0; i < m.num_fields; ++i) {
      size_t a = j;
      while (j < occs.size() && occs[j].pos == static_cast<int16_t>(i)) ++j;
      OneField(fields[i], std::span<const Occ>(occs.data() + a, j - a), top, first);
    }
  }

  void Key(const Field& f, bool* first) {
    if (!*first) out_->push_back(',');
    *first = false;
    out_->push_back('"');
    out_->append(f.json);
    out_->append("\":");
  }

  // A non-repeated message field seen several times: protobuf merges the occurrences, which
  // for our reading is their concatenation.
  std::string_view Merged(std::span<const Occ> occs, std::string* buf) {
    if (occs.size() == 1) return occs[0].v.b;
    for (const Occ& o : occs) buf->append(o.v.b);
    return *buf;
  }

  static bool IsMessageKind(Kind k) { return k >= Kind::kMessage; }

  void OneField(const Field& f, std::span<const Occ> occs, const Envelope* top, bool* first) {
    const bool omitempty = f.flags & kOmitEmpty;
    if (f.flags & kInline) {
      std::string buf;
      if (f.number == 0 && top && f.message == static_cast<int32_t>(layout_.type_meta)) {
        // TypeMeta is not in an object's protobuf encoding: the envelope has it.
        AppendLen(1, top->kind, &buf);
        AppendLen(2, top->api_version, &buf);
        WriteFields(static_cast<uint32_t>(f.message), buf, nullptr, first);
        return;
      }
      WriteFields(static_cast<uint32_t>(f.message), occs.empty() ? "" : Merged(occs, &buf), top,
                  first);
      return;
    }
    if (f.number == 0) {
      // Not in the protobuf encoding (the generator found none such but TypeMeta): Go's
      // zero value.
      if (omitempty && (!IsMessageKind(f.kind) || (f.flags & (kRepeated | kMap | kPointer)))) {
        return;
      }
      Key(f, first);
      Zero(f);
      return;
    }
    if (f.flags & (kMap | kRepeated | kPointer)) {
      // A nil map, slice or pointer: nothing on the wire (an empty packed run is nothing too).
      const bool nil =
          occs.empty() || ((f.flags & kRepeated) && IsPackable(f.kind) && AllEmptyPacked(occs));
      if (nil) {
        if (omitempty) return;
        Key(f, first);
        out_->append("null");
        return;
      }
    }
    if (f.flags & kMap) {
      Key(f, first);
      Map(f, occs);
      return;
    }
    if (f.flags & kRepeated) {
      const bool fixed_width =
          f.kind == Kind::kFloat64 || f.kind == Kind::kFloat32 || f.kind == Kind::kUint64;
      Key(f, first);
      out_->push_back('[');
      bool first_elem = true;
      for (const Occ& o : occs) {
        if (IsPackable(f.kind) && o.v.wire == kLen) {
          if (fixed_width) {
            // fixed-width packed values are not used by the k8s.io/api types
            throw ProtoError("protobuf: packed fixed-width values not supported");
          }
          Reader r(o.v.b);
          while (!r.Done()) {
            Value e;
            e.number = o.v.number;
            e.wire = kVarint;
            e.u = r.Varint();
            if (!first_elem) out_->push_back(',');
            first_elem = false;
            Element(f, e);
          }
          continue;
        }
        if (!first_elem) out_->push_back(',');
        first_elem = false;
        Element(f, o.v);
      }
      out_->push_back(']');
      return;
    }
    if (f.flags & kPointer) {
      Key(f, first);
      Single(f, occs);
      return;
    }
    // A value field: absent means Go's zero value.
    if (occs.empty()) {
      if (omitempty && !IsMessageKind(f.kind)) return;  // omitempty never omits a struct
      if ((f.flags & kOmitZero) && (f.kind == Kind::kTime || f.kind == Kind::kMicroTime)) return;
      Key(f, first);
      Zero(f);
      return;
    }
    const Value& last = occs.back().v;
    if (omitempty && !IsMessageKind(f.kind) && IsEmpty(f.kind, last)) return;
    if ((f.flags & kOmitZero) && IsZeroTime(f.kind, occs)) return;
    Key(f, first);
    Single(f, occs);
  }

  static bool IsPackable(Kind k) {
    return k == Kind::kBool || k == Kind::kInt32 || k == Kind::kInt64 || k == Kind::kUint32 ||
           k == Kind::kUint64 || k == Kind::kFloat64 || k == Kind::kFloat32;
  }
  static bool AllEmptyPacked(std::span<const Occ> occs) {
    for (const Occ& o : occs) {
      if (o.v.wire != kLen || !o.v.b.empty()) return false;
    }
    return true;
  }

  bool IsEmpty(Kind k, const Value& v) {
    switch (k) {
      case Kind::kString:
      case Kind::kBytes:
        return v.b.empty();
      case Kind::kFloat64:
        return std::bit_cast<double>(v.u) == 0;
      case Kind::kFloat32:
        return std::bit_cast<float>(static_cast<uint32_t>(v.u)) == 0;
      case Kind::kInt32:
      case Kind::kUint32:
        return static_cast<uint32_t>(v.u) == 0;
      default:
        return v.u == 0;
    }
  }

  bool IsZeroTime(Kind k, std::span<const Occ> occs) {
    if (k != Kind::kTime && k != Kind::kMicroTime) return false;
    std::string buf;
    std::string_view b = Merged(occs, &buf);
    if (b.empty()) return true;
    auto [s, ns] = Timestamp(b);
    if (k == Kind::kTime) return s == kZeroTimeUnix;
    return s == kZeroTimeUnix && ns / 1000 == 0;
  }

  // A present non-repeated field (pointer or value).
  void Single(const Field& f, std::span<const Occ> occs) {
    if (IsMessageKind(f.kind)) {
      std::string buf;
      Value v = occs.back().v;
      CheckWire(v, kLen, f);
      v.b = Merged(occs, &buf);
      Element(f, v);
      return;
    }
    Element(f, occs.back().v);
  }

  void CheckWire(const Value& v, uint8_t wire, const Field& f) {
    if (v.wire != wire) {
      throw ProtoError(std::string("protobuf: field ") + (f.json ? f.json : "?") +
                       " has wire type " + std::to_string(v.wire) + ", expected " +
                       std::to_string(wire));
    }
  }

  void Element(const Field& f, const Value& v) { Element(f.kind, f.message, v, f); }

  void Element(Kind kind, int32_t message, const Value& v, const Field& f) {
    switch (kind) {
      case Kind::kString:
        CheckWire(v, kLen, f);
        AppendGoString(v.b, out_);
        return;
      case Kind::kBool:
        CheckWire(v, kVarint, f);
        out_->append(v.u ? "true" : "false");
        return;
      case Kind::kInt32:
        CheckWire(v, kVarint, f);
        AppendInt(static_cast<int32_t>(v.u), out_);
        return;
      case Kind::kInt64:
        CheckWire(v, kVarint, f);
        AppendInt(static_cast<int64_t>(v.u), out_);
        return;
      case Kind::kUint32:
        CheckWire(v, kVarint, f);
        AppendUint(static_cast<uint32_t>(v.u), out_);
        return;
      case Kind::kUint64:
        CheckWire(v, kVarint, f);
        AppendUint(v.u, out_);
        return;
      case Kind::kFloat64:
        CheckWire(v, kFixed64, f);
        AppendGoFloat(std::bit_cast<double>(v.u), out_);
        return;
      case Kind::kFloat32:
        CheckWire(v, kFixed32, f);
        AppendGoFloat32(std::bit_cast<float>(static_cast<uint32_t>(v.u)), out_);
        return;
      case Kind::kBytes:
        CheckWire(v, kLen, f);
        AppendBase64(v.b, out_);
        return;
      default:
        break;
    }
    CheckWire(v, kLen, f);
    switch (kind) {
      case Kind::kMessage:
        Object(static_cast<uint32_t>(message), v.b, nullptr);
        return;
      case Kind::kTime:
      case Kind::kMicroTime: {
        if (v.b.empty()) {
          out_->append("null");
          return;
        }
        auto [s, ns] = Timestamp(v.b);
        if (kind == Kind::kTime) {
          if (s == kZeroTimeUnix) {
            out_->append("null");
          } else {
            AppendRfc3339(s, 0, false, out_);
          }
          return;
        }
        // Far outside the years AppendRfc3339 writes (and the normalisation below must
        // not overflow).
        if (s < kYear0Unix - 10 || s > kYear10000Unix + 10) {
          throw ProtoError("time: seconds " + std::to_string(s) + " out of range");
        }
        // time.Unix(s, ns) normalises ns into [0, 1e9).
        int64_t micros = (ns / 1000) * 1000;  // Duration.Truncate(µs): toward zero
        s += micros / 1000000000;
        micros %= 1000000000;
        if (micros < 0) {
          micros += 1000000000;
          --s;
        }
        if (s == kZeroTimeUnix && micros == 0) {
          out_->append("null");
          return;
        }
        AppendRfc3339(s, static_cast<int>(micros / 1000), true, out_);
        return;
      }
      case Kind::kDuration: {
        int64_t ns = 0;
        Reader r(v.b);
        Value e;
        while (r.Next(&e)) {
          if (e.number == 1 && e.wire == kVarint) ns = static_cast<int64_t>(e.u);
        }
        out_->push_back('"');
        out_->append(GoDuration(ns));
        out_->push_back('"');
        return;
      }
      case Kind::kQuantity: {
        std::string_view s;
        bool seen = false;
        Reader r(v.b);
        Value e;
        while (r.Next(&e)) {
          if (e.number == 1 && e.wire == kLen) {
            s = e.b;
            seen = true;
          }
        }
        if (!seen || s.empty()) {
          out_->append("\"0\"");
          return;
        }
        // The server writes the canonical form in both encodings.
        AppendGoString(s, out_);
        return;
      }
      case Kind::kIntOrString: {
        int64_t type = 0;
        int32_t i = 0;
        std::string_view s;
        Reader r(v.b);
        Value e;
        while (r.Next(&e)) {
          if (e.number == 1 && e.wire == kVarint) type = static_cast<int64_t>(e.u);
          if (e.number == 2 && e.wire == kVarint) i = static_cast<int32_t>(e.u);
          if (e.number == 3 && e.wire == kLen) s = e.b;
        }
        if (type == 1) {
          AppendGoString(s, out_);
        } else {
          AppendInt(i, out_);
        }
        return;
      }
      case Kind::kRawExtension:
      case Kind::kFieldsV1: {
        std::optional<std::string_view> raw;
        Reader r(v.b);
        Value e;
        while (r.Next(&e)) {
          if (e.number == 1 && e.wire == kLen) raw = e.b;
        }
        if (!raw || (kind == Kind::kFieldsV1 && raw->empty())) {
          out_->append("null");
          return;
        }
        char c = raw->empty() ? '\0' : (*raw)[0];
        bool json = kind == Kind::kRawExtension
                        ? std::strchr("\t\r\n {[ntf\"-0123456789", c) != nullptr && c != '\0'
                        : std::strchr("n{\t\r\n ", c) != nullptr && c != '\0';
        if (!json) {
          throw ProtoError(std::string("protobuf: ") + (f.json ? f.json : "?") +
                           ": embedded content is not JSON (CBOR?)");
        }
        AppendCompactJson(*raw, out_);
        return;
      }
      default:
        throw ProtoError("protobuf: unexpected kind");
    }
  }

  static std::pair<int64_t, int32_t> Timestamp(std::string_view b) {
    int64_t s = 0;
    int32_t ns = 0;
    Reader r(b);
    Value e;
    while (r.Next(&e)) {
      if (e.number == 1 && e.wire == kVarint) s = static_cast<int64_t>(e.u);
      if (e.number == 2 && e.wire == kVarint) ns = static_cast<int32_t>(e.u);
    }
    return {s, ns};
  }

  // Go's zero value of a value (non-pointer, non-slice, non-map) field, or null for the
  // nil ones.
  void Zero(const Field& f) {
    if (f.flags & (kRepeated | kMap | kPointer)) {
      out_->append("null");
      return;
    }
    switch (f.kind) {
      case Kind::kString:
        out_->append("\"\"");
        return;
      case Kind::kBool:
        out_->append("false");
        return;
      case Kind::kInt32:
      case Kind::kInt64:
      case Kind::kUint32:
      case Kind::kUint64:
      case Kind::kFloat64:
      case Kind::kFloat32:
      case Kind::kIntOrString:
        out_->push_back('0');
        return;
      case Kind::kBytes:
      case Kind::kTime:
      case Kind::kMicroTime:
      case Kind::kRawExtension:
      case Kind::kFieldsV1:
        out_->append("null");
        return;
      case Kind::kDuration:
        out_->append("\"0s\"");
        return;
      case Kind::kQuantity:
        out_->append("\"0\"");
        return;
      case Kind::kMessage:
        Object(static_cast<uint32_t>(f.message), "", nullptr);
        return;
    }
  }

  // map<string, V>: entries {key = 1, value = 2}, written with keys sorted (Go sorts map
  // keys; the last of duplicate keys wins, as in a Go map).
  void Map(const Field& f, std::span<const Occ> occs) {
    struct Entry {
      std::string_view key;
      std::optional<Value> value;
    };
    std::vector<Entry> entries;
    entries.reserve(occs.size());
    for (const Occ& o : occs) {
      CheckWire(o.v, kLen, f);
      Entry e;
      Reader r(o.v.b);
      Value v;
      while (r.Next(&v)) {
        if (v.number == 1 && v.wire == kLen) e.key = v.b;
        if (v.number == 2) e.value = v;
      }
      entries.push_back(e);
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry& a, const Entry& b) { return a.key < b.key; });
    out_->push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i + 1 < entries.size() && entries[i + 1].key == entries[i].key) continue;
      if (out_->back() != '{') out_->push_back(',');
      AppendGoString(entries[i].key, out_);
      out_->push_back(':');
      const std::optional<Value>& v = entries[i].value;
      if (f.flags & kWrapped) {
        // A Go named slice ([]string): a message repeating the items as field 1.
        std::string_view b;
        if (v) {
          CheckWire(*v, kLen, f);
          b = v->b;
        }
        Reader r(b);
        Value item;
        bool any = false;
        while (r.Next(&item)) {
          if (item.number != 1) continue;
          out_->push_back(any ? ',' : '[');
          any = true;
          Element(f.kind, f.message, item, f);
        }
        out_->append(any ? "]" : "null");
        continue;
      }
      if (!v) {
        // An entry without its value holds the value type's zero (gogo's mapvalue
        // defaults: "" for strings and []byte{}, an empty message).
        if (f.kind == Kind::kBytes) {
          out_->append("\"\"");
        } else {
          Field z = f;
          z.flags = 0;
          Zero(z);
        }
        continue;
      }
      Element(f.kind, f.message, *v, f);
    }
    out_->push_back('}');
  }

  std::string* out_;
  const Layout& layout_;
  int depth_ = 0;
};

}  // namespace

bool IsProtobuf(std::string_view content_type) {
  size_t semi = content_type.find(';');
  std::string_view mt = content_type.substr(0, semi);
  while (!mt.empty() && mt.back() == ' ') mt.remove_suffix(1);
  return mt == kMediaType;
}

Envelope ParseEnvelope(std::string_view data) {
  if (data.substr(0, kMagic.size()) != kMagic) {
    throw ProtoError("protobuf: object does not start with the k8s\\0 prefix");
  }
  Envelope e;
  Reader r(data.substr(kMagic.size()));
  Value v;
  while (r.Next(&v)) {
    if (v.wire != kLen) continue;
    switch (v.number) {
      case 1: {
        Reader tm(v.b);
        Value t;
        while (tm.Next(&t)) {
          if (t.wire != kLen) continue;
          if (t.number == 1) e.api_version = t.b;
          if (t.number == 2) e.kind = t.b;
        }
        break;
      }
      case 2:
        e.raw = v.b;
        break;
      case 3:
        e.content_encoding = v.b;
        break;
      case 4:
        e.content_type = v.b;
        break;
      default:
        break;
    }
  }
  return e;
}

void AppendJson(std::string_view data, std::string* out) {
  Envelope e = ParseEnvelope(data);
  if (!e.content_encoding.empty()) {
    throw ProtoError("protobuf: content encoding '" + std::string(e.content_encoding) +
                     "' not supported");
  }
  if (!e.content_type.empty() && !IsProtobuf(e.content_type)) {
    throw ProtoError("protobuf: embedded content type '" + std::string(e.content_type) +
                     "' not supported");
  }
  const Layout& l = GetLayout();
  std::string key;
  key.reserve(e.api_version.size() + 1 + e.kind.size());
  key.append(e.api_version).push_back('\0');
  key.append(e.kind);
  auto it = l.by_type.find(key);
  if (it == l.by_type.end()) {
    throw ProtoError("protobuf: kind " + std::string(e.kind) + " of " + std::string(e.api_version) +
                     " is not a built-in kind (k8s.io/api " + SchemaVersion() + ")");
  }
  Transcoder(out).Object(it->second, e.raw, &e);
}

std::string ToJson(std::string_view data) {
  std::string out;
  out.reserve(data.size() * 2);
  AppendJson(data, &out);
  return out;
}

WatchEventView ParseWatchEvent(std::string_view message) {
  WatchEventView w;
  Reader r(message);
  Value v;
  bool has_type = false;
  while (r.Next(&v)) {
    if (v.wire != kLen) continue;
    if (v.number == 1) {
      w.type = v.b;
      has_type = true;
    }
    if (v.number == 2) {
      Reader o(v.b);
      Value raw;
      while (o.Next(&raw)) {
        if (raw.number == 1 && raw.wire == kLen) w.object = raw.b;
      }
    }
  }
  if (!has_type) throw ProtoError("protobuf: watch event without a type");
  return w;
}

const KindEntry* FindResource(std::string_view group, std::string_view version,
                              std::string_view resource) {
  const Layout& l = GetLayout();
  std::string key;
  key.append(group).append("/").append(version).append("/").append(resource);
  auto it = l.by_resource.find(key);
  return it == l.by_resource.end() ? nullptr : &Kinds()[it->second];
}

void AppendGoString(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size();) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
        ++i;
        continue;
      }
      out->append(s.substr(start, i - start));
      switch (c) {
        case '"':
        case '\\':
          out->push_back('\\');
          out->push_back(static_cast<char>(c));
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\f':
          out->append("\\f");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        default:
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
      }
      start = ++i;
      continue;
    }
    uint32_t cp = 0;
    int n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out->append(s.substr(start, i - start));
      out->append("\\ufffd");
      start = ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      out->append(s.substr(start, i - start));
      out->append(cp == 0x2028 ? "\\u2028" : "\\u2029");
      start = i += n;
      continue;
    }
    i += n;
  }
  out->append(s.substr(start));
  out->push_back('"');
}

void AppendGoFloat(double v, std::string* out) { AppendFloat(v, out); }
void AppendGoFloat32(float v, std::string* out) { AppendFloat(v, out); }

std::string GoDuration(int64_t d) {
  char buf[32];
  int w = sizeof buf;
  uint64_t u = static_cast<uint64_t>(d);
  bool neg = d < 0;
  if (neg) u = 0 - u;
  auto frac = [&](uint64_t v, int prec) {
    bool print = false;
    for (int i = 0; i < prec; ++i) {
      uint64_t digit = v % 10;
      print = print || digit != 0;
      if (print) buf[--w] = static_cast<char>('0' + digit);
      v /= 10;
    }
    if (print) buf[--w] = '.';
    return v;
  };
  auto integer = [&](uint64_t v) {
    if (v == 0) {
      buf[--w] = '0';
      return;
    }
    while (v > 0) {
      buf[--w] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  constexpr uint64_t kSecond = 1000000000;
  if (u < kSecond) {
    int prec = 0;
    buf[--w] = 's';
    if (u == 0) return "0s";
    if (u < 1000) {
      prec = 0;
      buf[--w] = 'n';
    } else if (u < 1000000) {
      prec = 3;
      buf[--w] = '\xb5';  // µ, U+00B5
      buf[--w] = '\xc2';
    } else {
      prec = 6;
      buf[--w] = 'm';
    }
    u = frac(u, prec);
    integer(u);
  } else {
    buf[--w] = 's';
    u = frac(u, 9);
    integer(u % 60);
    u /= 60;
    if (u > 0) {
      buf[--w] = 'm';
      integer(u % 60);
      u /= 60;
      if (u > 0) {
        buf[--w] = 'h';
        integer(u);
      }
    }
  }
  if (neg) buf[--w] = '-';
  return std::string(buf + w, sizeof buf - w);
}

namespace {

// Whether `s` is one JSON value, whitespace around it allowed: what encoding/json's scanner
// checks of a MarshalJSON's output before compacting it (no UTF-8 check; at most 10000
// levels). Iterative: the nesting comes from the input.
bool ValidJson(std::string_view s) {
  const size_t n = s.size();
  size_t i = 0;
  std::vector<char> open;  // '{' or '[' of each level
  auto ws = [&] {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  };
  auto digit = [&](size_t k) { return k < n && s[k] >= '0' && s[k] <= '9'; };
  auto string = [&] {  // at '"'
    for (++i; i < n; ++i) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        ++i;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (++i >= n) return false;
      if (s[i] == 'u') {
        for (int k = 0; k < 4; ++k) {
          if (++i >= n || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
        }
      } else if (std::string_view("\"\\/bfnrt").find(s[i]) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  };
  auto number = [&] {
    if (s[i] == '-') ++i;
    if (i < n && s[i] == '0') {
      ++i;
    } else {
      if (!digit(i)) return false;
      while (digit(i)) ++i;
    }
    if (i < n && s[i] == '.') {
      if (!digit(++i)) return false;
      while (digit(i)) ++i;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
      if (!digit(i)) return false;
      while (digit(i)) ++i;
    }
    return true;
  };
  auto key = [&] {  // a member's key and colon
    ws();
    if (i >= n || s[i] != '"' || !string()) return false;
    ws();
    if (i >= n || s[i] != ':') return false;
    ++i;
    return true;
  };
  for (;;) {
    // A value.
    ws();
    if (i >= n) return false;
    char c = s[i];
    if (c == '{' || c == '[') {
      if (open.size() >= 10000) return false;
      ++i;
      ws();
      if (i < n && s[i] == (c == '{' ? '}' : ']')) {
        ++i;
      } else {
        open.push_back(c);
        if (c == '{' && !key()) return false;
        continue;
      }
    } else if (c == '"') {
      if (!string()) return false;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if (!number()) return false;
    } else if (s.substr(i, 4) == "true" || s.substr(i, 4) == "null") {
      i += 4;
    } else if (s.substr(i, 5) == "false") {
      i += 5;
    } else {
      return false;
    }
    // After a value: close levels, or the next element or member.
    for (;;) {
      ws();
      if (open.empty()) return i == n;
      if (i >= n) return false;
      if (s[i] == ',') {
        ++i;
        if (open.back() == '{' && !key()) return false;
        break;
      }
      if (s[i] != (open.back() == '{' ? '}' : ']')) return false;
      open.pop_back();
      ++i;
    }
  }
}

}  // namespace

void AppendCompactJson(std::string_view raw, std::string* out) {
  // encoding/json refuses a MarshalJSON's invalid output (the server could not send this
  // object as JSON); copied, it would break or extend the object around it.
  if (!ValidJson(raw)) throw ProtoError("json: embedded content is not valid JSON");
  bool in_string = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (in_string) {
      if (c == '\\' && i + 1 < raw.size()) {
        out->push_back(c);
        out->push_back(raw[++i]);
        continue;
      }
      if (c == '"') in_string = false;
    } else {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
      if (c == '"') in_string = true;
    }
    if (c == '<' || c == '>' || c == '&') {
      out->append(c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : "\\u0026");
      continue;
    }
    if (c == '\xe2' && i + 2 < raw.size() && raw[i + 1] == '\x80' &&
        (raw[i + 2] == '\xa8' || raw[i + 2] == '\xa9')) {
      out->append(raw[i + 2] == '\xa8' ? "\\u2028" : "\\u2029");
      i += 2;
      continue;
    }
    out->push_back(c);
  }
}

}  // namespace poolguard::kube::proto
