#pragma once

#include <cpprest/json.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace poolguard::localnode {

/// One row of the image table (localnode/images.yaml): what an image runs locally.
struct ImageEntry {
  std::string pattern;                       // "postgres:*": '*' matches any run of characters
  std::vector<std::string> entrypoint;       // the image's ENTRYPOINT, as local paths
  std::vector<std::string> cmd;              // the image's CMD (used when the pod gives no args)
  std::map<std::string, std::string> paths;  // image path → local path, for a pod's `command`
  std::string working_dir;                   // default working directory ("" = the pod dir)
};

class ImageTableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ImageTable {
 public:
  /// Parses the YAML text. `${NAME}` in entrypoint/cmd/paths/workingDir is replaced from
  /// `vars` (unknown names are an error, so a typo does not run the wrong binary).
  static ImageTable Parse(const std::string& yaml_text,
                          const std::map<std::string, std::string>& vars,
                          const std::string& source_name = "images.yaml");
  static ImageTable LoadFile(const std::string& path,
                             const std::map<std::string, std::string>& vars);

  /// The first entry whose pattern matches the normalised image, or nullptr.
  const ImageEntry* Find(const std::string& image) const;
  const std::vector<ImageEntry>& entries() const { return entries_; }

 private:
  std::vector<ImageEntry> entries_;
};

/// "docker.io/library/postgres" → "postgres:latest"; strips docker.io/ and library/,
/// adds :latest when there is no tag or digest.
std::string NormalizeImage(const std::string& image);

/// Glob with '*' only.
bool GlobMatch(const std::string& pattern, const std::string& text);

/// The argv a container runs, as Docker combines ENTRYPOINT/CMD with the pod's
/// command/args: no command → entrypoint + (args, else cmd); command → command + args, where
/// command[0] is mapped through `paths` (exact path, then basename).
std::vector<std::string> ContainerArgv(const ImageEntry& entry,
                                       const std::vector<std::string>& command,
                                       const std::vector<std::string>& args);

}  // namespace poolguard::localnode
