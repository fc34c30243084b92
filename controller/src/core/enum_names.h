#pragma once

// Enum names as status and specs write them, kept in one table per enum: the name of a
// value and the value of a name are read from the same rows, so they cannot disagree.

#include <cstddef>
#include <optional>
#include <string_view>

namespace poolguard::controller {

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

/// The name of `value` in `table`; `fallback` when the table does not list it.
template <typename E, std::size_t N>
constexpr std::string_view NameOf(const EnumName<E> (&table)[N], E value,
                                  std::string_view fallback = "") {
  for (const auto& row : table) {
    if (row.value == value) return row.name;
  }
  return fallback;
}

/// The value named `name` in `table` (exact, case-sensitive); nullopt when none is.
template <typename E, std::size_t N>
constexpr std::optional<E> ValueOf(const EnumName<E> (&table)[N], std::string_view name) {
  for (const auto& row : table) {
    if (row.name == name) return row.value;
  }
  return std::nullopt;
}

}  // namespace poolguard::controller
