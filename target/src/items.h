#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace poolguard::target {

/// A validated POST /items body.
struct NewItem {
  std::string name;
  std::int32_t quantity = 0;
};

/// Parses and validates a POST /items body: a JSON object with "name" (1–200 characters)
/// and "quantity" (a whole number, 0 or more). Returns the item, or an error message that
/// names the problem. Never throws; guards against deeply nested documents.
std::variant<NewItem, std::string> ParseNewItem(std::string_view body);

/// How deeply arrays and objects nest in a JSON text (strings are skipped correctly).
int JsonNestingDepth(std::string_view text);

}  // namespace poolguard::target
