#include "json_scan.h"

#include <cstring>

namespace poolguard::kube::json_scan {
namespace {

bool IsWs(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// s[i] == '"'; index just past the closing quote, or kBad.
size_t SkipString(std::string_view s, size_t i) {
  ++i;
  const char* base = s.data();
  const size_t n = s.size();
  while (i < n) {
    // Jump to the next quote or backslash.
    const void* q = std::memchr(base + i, '"', n - i);
    size_t quote = q ? static_cast<size_t>(static_cast<const char*>(q) - base) : n;
    const void* b = std::memchr(base + i, '\\', quote - i);
    if (!b) return quote < n ? quote + 1 : kBad;
    i = static_cast<size_t>(static_cast<const char*>(b) - base) + 2;  // skip the escape
  }
  return kBad;
}

void AppendUtf8(unsigned cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool Hex4(std::string_view s, size_t i, unsigned* out) {
  if (i + 4 > s.size()) return false;
  unsigned v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v |= static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      v |= static_cast<unsigned>(c - 'A' + 10);
    } else {
      return false;
    }
  }
  *out = v;
  return true;
}

}  // namespace

size_t SkipWs(std::string_view s, size_t i) {
  while (i < s.size() && IsWs(s[i])) ++i;
  return i;
}

size_t SkipValue(std::string_view s, size_t i) {
  i = SkipWs(s, i);
  if (i >= s.size()) return kBad;
  char c = s[i];
  if (c == '"') return SkipString(s, i);
  if (c == '{' || c == '[') {
    // Brackets are balanced by depth; strings are skipped whole so brackets inside them
    // do not count.
    int depth = 0;
    const size_t n = s.size();
    while (i < n) {
      char d = s[i];
      if (d == '"') {
        i = SkipString(s, i);
        if (i == kBad) return kBad;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return kBad;
  }
  // Number, true, false, null: up to the next delimiter.
  size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsWs(s[i])) ++i;
  return i > start ? i : kBad;
}

std::optional<std::string_view> Member(std::string_view obj, std::string_view key) {
  size_t i = SkipWs(obj, 0);
  if (i >= obj.size() || obj[i] != '{') return std::nullopt;
  ++i;
  while (true) {
    i = SkipWs(obj, i);
    if (i >= obj.size() || obj[i] != '"') return std::nullopt;  // '}' or malformed
    size_t key_end = SkipString(obj, i);
    if (key_end == kBad) return std::nullopt;
    std::string_view k = obj.substr(i + 1, key_end - i - 2);
    i = SkipWs(obj, key_end);
    if (i >= obj.size() || obj[i] != ':') return std::nullopt;
    size_t vstart = SkipWs(obj, i + 1);
    size_t vend = SkipValue(obj, vstart);
    if (vend == kBad) return std::nullopt;
    if (k == key) return obj.substr(vstart, vend - vstart);
    i = SkipWs(obj, vend);
    if (i >= obj.size() || obj[i] != ',') return std::nullopt;
    ++i;
  }
}

bool DecodeString(std::string_view q, std::string* out) {
  out->clear();
  if (q.size() < 2 || q.front() != '"' || q.back() != '"') return false;
  std::string_view body = q.substr(1, q.size() - 2);
  if (body.find('\\') == std::string_view::npos) {
    out->assign(body);
    return true;
  }
  out->reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i >= body.size()) return false;
    switch (body[i]) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        unsigned cp = 0;
        if (!Hex4(body, i + 1, &cp)) return false;
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < body.size() && body[i + 1] == '\\' &&
            body[i + 2] == 'u') {
          unsigned lo = 0;
          if (Hex4(body, i + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        AppendUtf8(cp, out);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

std::string StrAt(std::string_view obj, std::initializer_list<std::string_view> path) {
  std::string_view cur = obj;
  for (std::string_view key : path) {
    auto m = Member(cur, key);
    if (!m) return "";
    cur = *m;
  }
  std::string out;
  if (!DecodeString(cur, &out)) return "";
  return out;
}

}  // namespace poolguard::kube::json_scan
