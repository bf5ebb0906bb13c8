#include "driver/views/view_descriptor.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>

#include "driver/descriptor.h"

namespace vitfeat {

namespace {

OptionMap readOptions(const CPLJSONObject& o) {
  OptionMap out;
  for (const CPLJSONObject& child : o.GetChildren())
    out[CPLString(child.GetName()).toupper()] = child.ToString();
  return out;
}

CPLJSONObject writeOptions(const OptionMap& options, const std::string& path) {
  CPLJSONObject o;
  for (const auto& [k, v] : options) o.Add(k, k == "MODEL" ? portablePath(path, v) : v);
  return o;
}

}  // namespace

bool looksLikeViewDescriptor(const char* header, int headerBytes, const char* driver) {
  if (headerBytes <= 0) return false;
  const std::string head(header, headerBytes);
  return head.find('{') != std::string::npos && head.find("\"vitview\"") != std::string::npos &&
         head.find(std::string("\"") + driver + "\"") != std::string::npos;
}

std::optional<ViewDescriptor> readViewDescriptor(const std::string& path, const char* driver) {
  CPLJSONDocument doc;
  if (!doc.Load(path)) {
    CPLError(CE_Failure, CPLE_OpenFailed, "%s: %s is not a valid JSON descriptor", driver,
             path.c_str());
    return std::nullopt;
  }
  const CPLJSONObject root = doc.GetRoot();
  const int version = root.GetInteger("vitview", 0);
  if (version != 1) {
    CPLError(CE_Failure, CPLE_OpenFailed,
             "%s: %s: unsupported view descriptor version %d (expected 1)", driver, path.c_str(),
             version);
    return std::nullopt;
  }
  ViewDescriptor d;
  d.driver = root.GetString("driver");
  if (!EQUAL(d.driver.c_str(), driver)) {
    CPLError(CE_Failure, CPLE_OpenFailed, "%s: %s is a %s descriptor, not a %s one", driver,
             path.c_str(), d.driver.c_str(), driver);
    return std::nullopt;
  }
  const std::string dir = CPLGetPath(path.c_str());
  if (!checkDescriptorMembers(root, path, driver)) return std::nullopt;
  d.source = root.GetString("source");
  if (d.source.empty()) {
    CPLError(CE_Failure, CPLE_OpenFailed, "%s: %s: no \"source\" feature raster", driver,
             path.c_str());
    return std::nullopt;
  }
  const std::string loop = descriptorLoop(path);
  if (!loop.empty()) {
    CPLError(CE_Failure, CPLE_OpenFailed,
             "%s: %s: its \"source\" leads into a loop of descriptors (%s), which would open "
             "recursively for ever; point \"source\" at a feature raster",
             driver, path.c_str(), loop.c_str());
    return std::nullopt;
  }
  d.source = resolveSource(dir, d.source);
  d.sourceOptions = readOptions(root.GetObj("source_options"));
  const auto model = d.sourceOptions.find("MODEL");
  if (model != d.sourceOptions.end()) model->second = resolveAgainst(dir, model->second);
  d.options = readOptions(root.GetObj("options"));
  d.fit = root.GetObj("fit");
  return d;
}

bool writeViewDescriptor(const std::string& path, const ViewDescriptor& d) {
  CPLJSONDocument doc;
  CPLJSONObject root = doc.GetRoot();
  root.Add("vitview", 1);
  root.Add("driver", d.driver);
  root.Add("source", portableSource(path, d.source));
  root.Add("source_options", writeOptions(d.sourceOptions, path));
  root.Add("options", writeOptions(d.options, path));
  root.Add("fit", d.fit);
  if (!doc.Save(path)) {
    CPLError(CE_Failure, CPLE_FileIO, "%s: cannot write descriptor %s", d.driver.c_str(),
             path.c_str());
    return false;
  }
  return true;
}

}  // namespace vitfeat
