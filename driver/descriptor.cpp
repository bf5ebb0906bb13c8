#include "driver/descriptor.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_string.h>
#include <cpl_vsi.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

namespace vitfeat {

namespace {

// Paths GDAL understands that are not plain relative file names: connection
// strings (DRIVER:...), /vsi paths, URLs and hub references stay as they are.
bool isPlainRelativePath(const std::string& p) {
  if (p.empty() || !CPLIsFilenameRelative(p.c_str())) return false;
  if (STARTS_WITH(p.c_str(), "/vsi")) return false;
  const size_t colon = p.find(':');
  return colon == std::string::npos;
}

// A file name, relative or absolute (not a connection string, /vsi path or URL).
bool isPlainFilePath(const std::string& p) {
  if (isPlainRelativePath(p)) return true;
  return !p.empty() && !CPLIsFilenameRelative(p.c_str()) && !STARTS_WITH(p.c_str(), "/vsi") &&
         p.find(':') == std::string::npos;
}

std::string relativeTo(const std::string& dir, const std::string& p) {
  if (p.empty() || CPLIsFilenameRelative(p.c_str())) return p;
  int gotRelative = FALSE;
  const char* rel = CPLExtractRelativePath(dir.c_str(), p.c_str(), &gotRelative);
  return gotRelative ? rel : p;
}

std::string currentDir() {
  char* cwd = CPLGetCurrentDir();
  const std::string out = cwd ? cwd : ".";
  CPLFree(cwd);
  return out;
}

// The driver prefixes a descriptor's "source" may carry before a file name.
constexpr const char* kDriverPrefixes[] = {
    "VITFEAT:", "VITPCA:", "VITCLUSTER:", "VITSIM:", "VITCLASSIFY:", "VITUMAP:"};
constexpr const char* kDescriptorExtensions[] = {"vitfeat", "vitpca",   "vitcluster",
                                                 "vitsim",  "vitclass", "vitumap"};

// "VITPCA:VITFEAT:scene.tif" -> {"VITPCA:VITFEAT:", "scene.tif"}: the driver
// prefixes a source carries, and the name they open.
std::pair<std::string, std::string> splitDriverPrefixes(const std::string& s) {
  size_t at = 0;
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (const char* prefix : kDriverPrefixes)
      if (STARTS_WITH_CI(s.c_str() + at, prefix)) {
        at += std::strlen(prefix);
        stripped = true;
      }
  }
  return {s.substr(0, at), s.substr(at)};
}

bool exists(const std::string& p) {
  VSIStatBufL st;
  return VSIStatL(p.c_str(), &st) == 0;
}

bool isDescriptorName(const std::string& p) {
  for (const char* e : kDescriptorExtensions)
    if (EQUAL(CPLGetExtension(p.c_str()), e)) return true;
  return false;
}

// The same file whatever the path's spelling ("./a.vitfeat", "dir/../a.vitfeat").
std::string sameFileKey(const std::string& p) {
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : canonical.string();
}

}  // namespace

std::string descriptorLoop(const std::string& path) {
  std::vector<std::string> chain, keys;
  std::string current = path;
  // Deeper chains are left to GDAL's own recursion limit.
  for (int depth = 0; depth < 64; ++depth) {
    const std::string key = sameFileKey(current);
    chain.push_back(current);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      std::string text;
      for (const std::string& c : chain) text += (text.empty() ? "" : " -> ") + c;
      return text;
    }
    keys.push_back(key);
    CPLJSONDocument doc;
    if (!isDescriptorName(current)) return {};
    bool loaded = false;
    {
      // A file that does not parse is its opener's to report, not this check's.
      const CPLErrorStateBackuper keepErrorState;
      const CPLErrorHandlerPusher quiet(CPLQuietErrorHandler);
      loaded = doc.Load(current);
    }
    if (!loaded) return {};
    const CPLJSONObject root = doc.GetRoot();
    if (!root.GetObj("vitfeat").IsValid() && !root.GetObj("vitview").IsValid()) return {};
    const std::string source =
        splitDriverPrefixes(resolveSource(CPLGetPath(current.c_str()), root.GetString("source")))
            .second;
    if (source.empty()) return {};
    current = source;
  }
  return {};
}

std::string resolveAgainst(const std::string& dir, const std::string& p) {
  return isPlainRelativePath(p) ? CPLFormFilename(dir.c_str(), p.c_str(), nullptr) : p;
}

std::string portablePath(const std::string& descriptorPath, const std::string& p) {
  const std::string cwd = currentDir();
  const std::string dir = CPLGetPath(resolveAgainst(cwd, descriptorPath).c_str());
  return relativeTo(dir, resolveAgainst(cwd, p));
}

std::string resolveSource(const std::string& dir, const std::string& source) {
  const auto [prefixes, name] = splitDriverPrefixes(source);
  if (prefixes.empty()) return resolveAgainst(dir, source);
  if (!isPlainRelativePath(name)) return source;
  const std::string beside = resolveAgainst(dir, name);
  // Descriptors written before 2026-11-27 kept the file of a connection string
  // as given, relative to the folder the descriptor was written from.
  if (!exists(beside) && exists(name)) return source;
  return prefixes + beside;
}

std::string portableSource(const std::string& descriptorPath, const std::string& source) {
  const auto [prefixes, name] = splitDriverPrefixes(source);
  if (prefixes.empty()) return portablePath(descriptorPath, source);
  if (!isPlainFilePath(name)) return source;
  return prefixes + portablePath(descriptorPath, name);
}

std::string absoluteSource(const std::string& source) {
  const auto [prefixes, name] = splitDriverPrefixes(source);
  if (prefixes.empty() || !isPlainRelativePath(name)) return source;
  return prefixes + resolveAgainst(currentDir(), name);
}

bool checkDescriptorMembers(const CPLJSONObject& root, const std::string& path,
                            const char* driver) {
  const auto typeName = [](CPLJSONObject::Type t) {
    switch (t) {
      case CPLJSONObject::Type::Null:
        return "null";
      case CPLJSONObject::Type::Object:
        return "an object";
      case CPLJSONObject::Type::Array:
        return "an array";
      case CPLJSONObject::Type::Boolean:
        return "a boolean";
      case CPLJSONObject::Type::String:
        return "a string";
      case CPLJSONObject::Type::Integer:
      case CPLJSONObject::Type::Long:
      case CPLJSONObject::Type::Double:
        return "a number";
      default:
        return "unknown";
    }
  };
  const std::pair<const char*, CPLJSONObject::Type> expected[] = {
      {"source", CPLJSONObject::Type::String},
      {"options", CPLJSONObject::Type::Object},
      {"source_options", CPLJSONObject::Type::Object}};
  for (const auto& [name, type] : expected) {
    const CPLJSONObject member = root.GetObj(name);
    if (!member.IsValid() || member.GetType() == type) continue;
    CPLError(CE_Failure, CPLE_OpenFailed, "%s: %s: \"%s\" is %s; it must be %s", driver,
             path.c_str(), name, typeName(member.GetType()), typeName(type));
    return false;
  }
  return true;
}

std::string copySourceName(GDALDataset* src) {
  const char* name = src->GetDescription();
  if (name[0]) return name;
  return std::string("an unnamed ") +
         (src->GetDriver() ? src->GetDriver()->GetDescription() : "dataset") +
         " (what gdal_translate passes on with band, window or resampling options)";
}

bool looksLikeDescriptor(const char* header, int headerBytes) {
  if (headerBytes <= 0) return false;
  const std::string head(header, headerBytes);
  return head.find('{') != std::string::npos && head.find("\"vitfeat\"") != std::string::npos;
}

bool namesFeatureDataset(const GDALOpenInfo& info) {
  if (STARTS_WITH_CI(info.pszFilename, kVitfeatPrefix)) return true;
  return EQUAL(CPLGetExtension(info.pszFilename), "vitfeat") &&
         looksLikeDescriptor(reinterpret_cast<const char*>(info.pabyHeader), info.nHeaderBytes);
}

std::optional<Descriptor> readDescriptor(const std::string& path) {
  CPLJSONDocument doc;
  if (!doc.Load(path)) {
    CPLError(CE_Failure, CPLE_OpenFailed, "VITFEAT: %s is not a valid JSON descriptor",
             path.c_str());
    return std::nullopt;
  }
  const CPLJSONObject root = doc.GetRoot();
  const int version = root.GetInteger("vitfeat", 0);
  if (version != 1) {
    CPLError(CE_Failure, CPLE_OpenFailed,
             "VITFEAT: %s: unsupported descriptor version %d (expected 1)", path.c_str(), version);
    return std::nullopt;
  }
  const std::string dir = CPLGetPath(path.c_str());
  Descriptor d;
  if (!checkDescriptorMembers(root, path, "VITFEAT")) return std::nullopt;
  d.source = root.GetString("source");
  if (d.source.empty()) {
    CPLError(CE_Failure, CPLE_OpenFailed, "VITFEAT: %s: no \"source\" raster", path.c_str());
    return std::nullopt;
  }
  const std::string loop = descriptorLoop(path);
  if (!loop.empty()) {
    CPLError(CE_Failure, CPLE_OpenFailed,
             "VITFEAT: %s: its \"source\" leads into a loop of descriptors (%s), which would "
             "open recursively for ever; point \"source\" at a raster",
             path.c_str(), loop.c_str());
    return std::nullopt;
  }
  d.source = resolveSource(dir, d.source);
  for (const CPLJSONObject& o : root.GetObj("options").GetChildren())
    d.options[CPLString(o.GetName()).toupper()] = o.ToString();
  const auto model = d.options.find("MODEL");
  if (model != d.options.end()) model->second = resolveAgainst(dir, model->second);
  return d;
}

bool writeDescriptor(const std::string& path, const Descriptor& d) {
  const auto portable = [&](const std::string& p) { return portablePath(path, p); };
  CPLJSONDocument doc;
  CPLJSONObject root = doc.GetRoot();
  root.Add("vitfeat", 1);
  root.Add("source", portableSource(path, d.source));
  CPLJSONObject options;
  for (const auto& [k, v] : d.options) options.Add(k, k == "MODEL" ? portable(v) : v);
  root.Add("options", options);
  if (!doc.Save(path)) {
    CPLError(CE_Failure, CPLE_FileIO, "VITFEAT: cannot write descriptor %s", path.c_str());
    return false;
  }
  return true;
}

}  // namespace vitfeat
