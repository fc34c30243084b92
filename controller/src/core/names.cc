#include "core/names.h"

namespace poolguard::controller {
namespace {

bool Alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

std::string CheckDnsLabel(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 63) return "must be at most 63 characters";
  for (const char c : name) {
    if (!Alnum(c) && c != '-') {
      return "must consist of lower case letters, digits and '-' (a DNS-1123 label)";
    }
  }
  if (!Alnum(name.front()) || !Alnum(name.back())) {
    return "must start and end with a lower case letter or digit (a DNS-1123 label)";
  }
  return "";
}

std::string CheckDnsSubdomain(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 253) return "must be at most 253 characters";
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || !Alnum(label.front()) || !Alnum(label.back())) {
      return "must be lower case letters, digits, '-' and '.', each dot-separated part "
             "starting and ending with a letter or digit (a DNS-1123 subdomain)";
    }
    for (const char c : label) {
      if (!Alnum(c) && c != '-') {
        return "must be lower case letters, digits, '-' and '.' (a DNS-1123 subdomain)";
      }
    }
    if (dot == std::string_view::npos) return "";
    start = dot + 1;
  }
}

}  // namespace poolguard::controller
