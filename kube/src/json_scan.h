#pragma once

// A minimal scanner over JSON text that finds values without building a tree: the informer
// reads a watch event's type, its object's text and metadata with it, so that a cached
// object is kept as its (compact) text instead of a web::json::value tree.
//
// Positions are byte offsets into the text. Keys are compared as they are written, escapes
// included (the API server never escapes the ASCII keys looked up here).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace poolguard::kube::json_scan {

constexpr size_t kBad = std::string_view::npos;

/// Index of the first non-whitespace byte at or after `i` (s.size() if none).
size_t SkipWs(std::string_view s, size_t i);

/// Index just past the JSON value that starts at or after `i` (after whitespace), or kBad if
/// the text there is not a complete value. Checks structure, not every detail of numbers
/// and literals.
size_t SkipValue(std::string_view s, size_t i);

/// The text of member `key` of the object `obj` (leading/trailing whitespace trimmed), or
/// nullopt if `obj` is not an object or has no such member.
std::optional<std::string_view> Member(std::string_view obj, std::string_view key);

/// Decodes a JSON string literal (with its quotes), escapes included. False if `quoted` is
/// not a string literal.
bool DecodeString(std::string_view quoted, std::string* out);

/// obj[a][b]... as a string; "" if missing or not a string.
std::string StrAt(std::string_view obj, std::initializer_list<std::string_view> path);

/// Calls f(text_of_element) for each element of the array `arr`. False if `arr` is not a
/// well-formed array.
template <typename F>
bool ForEachElement(std::string_view arr, F&& f) {
  size_t i = SkipWs(arr, 0);
  if (i >= arr.size() || arr[i] != '[') return false;
  i = SkipWs(arr, i + 1);
  if (i < arr.size() && arr[i] == ']') return true;
  while (i < arr.size()) {
    size_t start = SkipWs(arr, i);
    size_t end = SkipValue(arr, start);
    if (end == kBad) return false;
    f(arr.substr(start, end - start));
    i = SkipWs(arr, end);
    if (i >= arr.size()) return false;
    if (arr[i] == ']') return true;
    if (arr[i] != ',') return false;
    ++i;
  }
  return false;
}

}  // namespace poolguard::kube::json_scan
