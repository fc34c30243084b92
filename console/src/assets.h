// The page's files, compiled in (console/assets/, embedded by console/cmake/embed.cmake):
// the console works with no network access beyond the API server.
#pragma once

#include <cstddef>

namespace poolguard::console {

struct EmbeddedAsset {
  const char* data;
  std::size_t size;
  const char* content_type;
};

const EmbeddedAsset& IndexHtml();
const EmbeddedAsset& ConsoleJs();
const EmbeddedAsset& ConsoleCss();

}  // namespace poolguard::console
