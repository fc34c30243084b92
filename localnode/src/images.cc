#include "images.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace poolguard::localnode {

namespace {

std::string Substitute(const std::string& in, const std::map<std::string, std::string>& vars,
                       const std::string& where) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    if (in.compare(i, 2, "${") == 0) {
      size_t close = in.find('}', i + 2);
      if (close == std::string::npos)
        throw ImageTableError(where + ": unterminated ${ in '" + in + "'");
      std::string name = in.substr(i + 2, close - i - 2);
      auto it = vars.find(name);
      if (it == vars.end())
        throw ImageTableError(where + ": unknown variable ${" + name + "} in '" + in + "'");
      out += it->second;
      i = close + 1;
    } else {
      out += in[i++];
    }
  }
  return out;
}

std::vector<std::string> StringList(const YAML::Node& node,
                                    const std::map<std::string, std::string>& vars,
                                    const std::string& where) {
  std::vector<std::string> out;
  if (!node) return out;
  if (node.IsScalar()) return {Substitute(node.as<std::string>(), vars, where)};
  if (!node.IsSequence()) throw ImageTableError(where + ": expected a list of strings");
  for (const auto& item : node) out.push_back(Substitute(item.as<std::string>(), vars, where));
  return out;
}

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool GlobMatch(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string NormalizeImage(const std::string& image) {
  std::string s = image;
  for (const char* prefix : {"docker.io/", "index.docker.io/", "registry-1.docker.io/"}) {
    if (s.rfind(prefix, 0) == 0) s = s.substr(std::string(prefix).size());
  }
  if (s.rfind("library/", 0) == 0) s = s.substr(8);
  auto slash = s.rfind('/');
  std::string last = slash == std::string::npos ? s : s.substr(slash + 1);
  if (last.find(':') == std::string::npos && last.find('@') == std::string::npos) s += ":latest";
  return s;
}

ImageTable ImageTable::Parse(const std::string& yaml_text,
                             const std::map<std::string, std::string>& vars,
                             const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ImageTableError(source_name + ": " + e.what());
  }
  if (!root["images"] || !root["images"].IsSequence()) {
    throw ImageTableError(source_name + ": expected a top-level 'images:' list");
  }
  ImageTable table;
  int index = 0;
  for (const auto& node : root["images"]) {
    std::string where = source_name + ": images[" + std::to_string(index++) + "]";
    if (!node["image"]) throw ImageTableError(where + ": missing 'image'");
    ImageEntry e;
    e.pattern = node["image"].as<std::string>();
    where += " (" + e.pattern + ")";
    e.entrypoint = StringList(node["entrypoint"], vars, where + ".entrypoint");
    if (e.entrypoint.empty()) throw ImageTableError(where + ": missing 'entrypoint'");
    e.cmd = StringList(node["cmd"], vars, where + ".cmd");
    if (node["paths"]) {
      if (!node["paths"].IsMap()) throw ImageTableError(where + ".paths: expected a map");
      for (const auto& kv : node["paths"]) {
        e.paths[kv.first.as<std::string>()] =
            Substitute(kv.second.as<std::string>(), vars, where + ".paths");
      }
    }
    if (node["workingDir"])
      e.working_dir = Substitute(node["workingDir"].as<std::string>(), vars, where);
    table.entries_.push_back(std::move(e));
  }
  return table;
}

ImageTable ImageTable::LoadFile(const std::string& path,
                                const std::map<std::string, std::string>& vars) {
  std::ifstream in(path);
  if (!in) throw ImageTableError("cannot read image table " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str(), vars, path);
}

const ImageEntry* ImageTable::Find(const std::string& image) const {
  std::string normalized = NormalizeImage(image);
  for (const auto& e : entries_) {
    if (GlobMatch(e.pattern, normalized) || GlobMatch(e.pattern, image)) return &e;
  }
  return nullptr;
}

std::vector<std::string> ContainerArgv(const ImageEntry& entry,
                                       const std::vector<std::string>& command,
                                       const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (command.empty()) {
    argv = entry.entrypoint;
    const auto& rest = args.empty() ? entry.cmd : args;
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }
  argv = command;
  auto it = entry.paths.find(argv[0]);
  if (it == entry.paths.end()) {
    for (it = entry.paths.begin(); it != entry.paths.end(); ++it) {
      if (Basename(it->first) == Basename(argv[0])) break;
    }
  }
  if (it != entry.paths.end()) argv[0] = it->second;
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace poolguard::localnode
