// A view's descriptor file (.vitpca, .vitcluster, .vitsim): the source, the
// options and the fitted parameters, so the view reopens anywhere (QGIS
// included) without fitting again. Relative paths resolve against the
// descriptor's folder.
//
//   {"vitview": 1, "driver": "VITPCA", "source": "features.vitfeat",
//    "source_options": {}, "options": {"N_COMPONENTS": "3"}, "fit": {...}}
#pragma once

#include <cpl_json.h>

#include <optional>
#include <string>

#include "driver/views/view_options.h"

namespace vitfeat {

struct ViewDescriptor {
  std::string driver;
  std::string source;  // resolved against the descriptor's folder
  OptionMap sourceOptions;
  OptionMap options;
  CPLJSONObject fit;  // invalid when absent
};

// True when the header looks like a descriptor of `driver`.
bool looksLikeViewDescriptor(const char* header, int headerBytes, const char* driver);

std::optional<ViewDescriptor> readViewDescriptor(const std::string& path, const char* driver);
bool writeViewDescriptor(const std::string& path, const ViewDescriptor& d);

}  // namespace vitfeat
