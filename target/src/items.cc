#include "items.h"

#include <cpprest/json.h>

#include <limits>

namespace poolguard::target {

int JsonNestingDepth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::variant<NewItem, std::string> ParseNewItem(std::string_view body) {
  constexpr int kMaxDepth = 32;
  if (JsonNestingDepth(body) > kMaxDepth) {
    return "request body nests deeper than " + std::to_string(kMaxDepth) + " levels";
  }
  web::json::value doc;
  try {
    doc = web::json::value::parse(std::string(body));
  } catch (const std::exception& e) {
    return std::string("request body is not valid JSON: ") + e.what();
  }
  if (!doc.is_object()) return std::string("request body must be a JSON object");
  const auto& object = doc.as_object();

  NewItem item;
  const auto name = object.find("name");
  if (name == object.end()) return std::string("field 'name' is required");
  if (!name->second.is_string()) return std::string("field 'name' must be a string");
  item.name = name->second.as_string();
  if (item.name.empty() || item.name.size() > 200) {
    return std::string("field 'name' must be 1 to 200 characters long");
  }
  if (item.name.find('\0') != std::string::npos) {
    return std::string("field 'name' must not contain NUL characters");
  }

  const auto quantity = object.find("quantity");
  if (quantity == object.end()) return std::string("field 'quantity' is required");
  const auto& q = quantity->second;
  if (!q.is_number() || !q.as_number().is_integral()) {
    return std::string("field 'quantity' must be a whole number");
  }
  const auto& number = q.as_number();
  if (!number.is_int64() || number.to_int64() < 0 ||
      number.to_int64() > std::numeric_limits<std::int32_t>::max()) {
    return std::string("field 'quantity' must be between 0 and 2147483647");
  }
  item.quantity = static_cast<std::int32_t>(number.to_int64());
  return item;
}

}  // namespace poolguard::target
