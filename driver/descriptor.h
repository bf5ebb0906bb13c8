// The .vitfeat descriptor: a small JSON file holding a source raster and the
// VITFEAT open options, so that QGIS and any GDAL tool open features like a
// raster file. Relative paths inside resolve against the descriptor's folder.
//
//   {"vitfeat": 1, "source": "scene.tif",
//    "options": {"MODEL": "models/dinov2", "STRIDE": "112", "BLEND": "cosine"}}
#pragma once

#include <cpl_json.h>
#include <gdal_priv.h>

#include <map>
#include <optional>
#include <string>

namespace vitfeat {

struct Descriptor {
  std::string source;                          // as resolved (absolute when it was relative)
  std::map<std::string, std::string> options;  // MODEL resolved likewise
};

// p resolved against dir when it is a plain relative file name (connection
// strings, /vsi paths, URLs and hub references are left as they are).
std::string resolveAgainst(const std::string& dir, const std::string& p);
// p as written into the descriptor at descriptorPath: relative to its folder
// when p lies under it, else as it is.
std::string portablePath(const std::string& descriptorPath, const std::string& p);

// A descriptor's "source" as read from the descriptor in dir: a plain relative
// file name, or the file a connection string opens (VITFEAT:scene.tif,
// VITPCA:VITFEAT:scene.tif), resolved against dir. For a connection string
// whose file is not in dir but is where the name points from the working
// folder, the name is kept: descriptors written before 2026-11-27 stored it so.
std::string resolveSource(const std::string& dir, const std::string& source);
// source as written into the descriptor at descriptorPath: portablePath of
// the file, also inside a connection string ("VITFEAT:" + portablePath(...)).
std::string portableSource(const std::string& descriptorPath, const std::string& source);
// source with the relative file inside a connection string made absolute, for
// files whose readers resolve nothing inside one (a VRT's SourceFilename).
std::string absoluteSource(const std::string& source);

// The name of a dataset handed to CreateCopy, for messages: gdal_translate
// hands over an unnamed VRT when given band, window or resampling options.
std::string copySourceName(GDALDataset* src);

// True when the first bytes of a file look like a descriptor.
bool looksLikeDescriptor(const char* header, int headerBytes);

// The connection prefix of a feature dataset: VITFEAT:<raster>.
inline constexpr const char* kVitfeatPrefix = "VITFEAT:";

// True when info names a VITFEAT dataset: a VITFEAT:<raster> connection string
// or a .vitfeat descriptor. Needs no model and no LibTorch, so the plugin can
// answer GDAL's Identify before the engine is loaded.
bool namesFeatureDataset(const GDALOpenInfo& info);

std::optional<Descriptor> readDescriptor(const std::string& path);

// A descriptor's members of the wrong JSON type ("source": 5, "options": [..])
// would otherwise read as missing: CPLError naming the member, its type and
// the one expected, and false. driver prefixes the message.
bool checkDescriptorMembers(const CPLJSONObject& root, const std::string& path, const char* driver);

// When the "source" of the descriptor at path (a .vitfeat or a view
// descriptor), followed through the descriptors it names, leads back to one
// already on the way: that chain, e.g. "a.vitfeat -> b.vitpca -> a.vitfeat".
// Empty when it does not (opening it would recurse until GDAL gives up).
std::string descriptorLoop(const std::string& path);

// Writes source and options, making paths relative to the descriptor's folder
// where they lie under it. CPLError + false on failure.
bool writeDescriptor(const std::string& path, const Descriptor& d);

}  // namespace vitfeat
