// The .vitfeat descriptor: a small JSON file holding a source raster and the
// VITFEAT open options, so that QGIS and any GDAL tool open features like a
// raster file. Relative paths inside resolve against the descriptor's folder.
//
//   {"vitfeat": 1, "source": "scene.tif",
//    "options": {"MODEL": "models/dinov2", "STRIDE": "112", "BLEND": "cosine"}}
#pragma once

#include <map>
#include <optional>
#include <string>

namespace vitfeat {

struct Descriptor {
  std::string source;                          // as resolved (absolute when it was relative)
  std::map<std::string, std::string> options;  // MODEL resolved likewise
};

// True when the first bytes of a file look like a descriptor.
bool looksLikeDescriptor(const char* header, int headerBytes);

std::optional<Descriptor> readDescriptor(const std::string& path);

// Writes source and options, making paths relative to the descriptor's folder
// where they lie under it. CPLError + false on failure.
bool writeDescriptor(const std::string& path, const Descriptor& d);

}  // namespace vitfeat
