#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace poolguard::dotenv {

/// One assignment read from a .env file, in file order.
struct Entry {
  std::string key;
  std::string value;
  int line = 0;
};

/// Looks a variable up in the process environment (or a test's stand-in).
using Lookup = std::function<std::optional<std::string>(const std::string&)>;

/// Parses .env content the way python-dotenv reads it: `KEY=value`, optional `export `,
/// blank lines and `#` comments, inline ` #` comments after unquoted values, single
/// quotes (literal), double quotes (escapes such as \n, \", \\; may span lines), and
/// `${VAR}` / `${VAR:-default}` expansion in unquoted and double-quoted values (earlier
/// keys of the file first, then `lookup`). Throws std::invalid_argument naming the line
/// on malformed input.
std::vector<Entry> Parse(std::string_view content, const Lookup& lookup);

/// Reads and parses `path`; returns an empty list when the file does not exist.
/// Errors name the file and line.
std::vector<Entry> ParseFile(const std::string& path, const Lookup& lookup);

}  // namespace poolguard::dotenv
