// The feature vector under each reference or training point: points are
// grouped by the source block they fall in, so each block is read once (a
// lazy source computes only the tiles under the points). Shared by the
// similarity view (mean feature per class) and the classifier view (one
// training row per point).
#pragma once

#include <gdal.h>

#include <Eigen/Dense>
#include <string>
#include <vector>

#include "driver/views/feature_source.h"
#include "driver/views/reference_points.h"

namespace vitfeat {

struct PointFeatures {
  Eigen::MatrixXd rows;       // one row per usable point, in the points' order
  std::vector<int> group;     // group of each row
  std::vector<int64_t> cell;  // y * width + x of each row
  std::vector<size_t> point;  // index into ReferencePoints::points of each row
  int given = 0, outside = 0, noData = 0;
};

// false + CPLError on a read error, cancellation or a geotransform that
// cannot be inverted. Points outside the raster or on no data are counted,
// not returned.
bool readPointFeatures(const FeatureSource& source, const ReferencePoints& points,
                       const char* driver, PointFeatures& out, GDALProgressFunc progress,
                       void* progressData);

// What identifies a vector file's content for fit caches (path, size and
// modification time of the file and of its siblings GDAL lists), empty for
// a name that is not a file.
std::string vectorIdentity(const std::string& path);

}  // namespace vitfeat
