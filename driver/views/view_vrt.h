// A view as a plain VRT over its feature source: one VRTDerivedRasterBand per
// output band, computed by vitfeat's pixel functions from the feature bands,
// with the fitted parameters as pixel-function arguments. The file is small
// and portable: any GDAL with the vitfeat plugin loaded reads it.
#pragma once

#include <string>

namespace vitfeat {

class ViewDataset;

// CPLError + false on failure.
bool writeViewVrt(const std::string& path, ViewDataset& view);

}  // namespace vitfeat
