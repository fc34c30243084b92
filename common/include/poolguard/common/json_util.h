#pragma once

#include <cpprest/json.h>

#include <string>
#include <string_view>

namespace poolguard::json {

/// Escapes `text` for use inside a JSON string literal (without the quotes).
/// Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
std::string Escape(std::string_view text);

/// {"error": {"code": code, "message": message}} — the body of every 4xx/5xx answer.
web::json::value ErrorBody(std::string_view code, std::string_view message);

}  // namespace poolguard::json
