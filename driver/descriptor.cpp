#include "driver/descriptor.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_string.h>

#include <cstring>

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

}  // namespace

std::string resolveAgainst(const std::string& dir, const std::string& p) {
  return isPlainRelativePath(p) ? CPLFormFilename(dir.c_str(), p.c_str(), nullptr) : p;
}

std::string portablePath(const std::string& descriptorPath, const std::string& p) {
  const std::string cwd = currentDir();
  const std::string dir = CPLGetPath(resolveAgainst(cwd, descriptorPath).c_str());
  return relativeTo(dir, resolveAgainst(cwd, p));
}

bool looksLikeDescriptor(const char* header, int headerBytes) {
  if (headerBytes <= 0) return false;
  const std::string head(header, headerBytes);
  return head.find('{') != std::string::npos && head.find("\"vitfeat\"") != std::string::npos;
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
  d.source = root.GetString("source");
  if (d.source.empty()) {
    CPLError(CE_Failure, CPLE_OpenFailed, "VITFEAT: %s: no \"source\" raster", path.c_str());
    return std::nullopt;
  }
  d.source = resolveAgainst(dir, d.source);
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
  root.Add("source", portable(d.source));
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
