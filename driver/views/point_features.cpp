#include "driver/views/point_features.h"

#include <cpl_error.h>
#include <gdal_priv.h>

#include <cmath>
#include <map>
#include <utility>

#include "driver/file_stamps.h"

namespace vitfeat {

bool readPointFeatures(const FeatureSource& source, const ReferencePoints& refs, const char* driver,
                       PointFeatures& out, GDALProgressFunc progress, void* progressData) {
  double gt[6];
  if (source.dataset()->GetGeoTransform(gt) != CE_None) {
    gt[0] = gt[3] = gt[2] = gt[4] = 0;
    gt[1] = gt[5] = 1;  // pixel coordinates
  }
  double inv[6];
  if (!GDALInvGeoTransform(gt, inv)) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: the geotransform of %s cannot be inverted", driver,
             source.name().c_str());
    return false;
  }
  out = PointFeatures();
  out.given = static_cast<int>(refs.points.size());
  // Points by source block, so each block's features are read once.
  std::map<std::pair<int, int>, std::vector<size_t>> byBlock;
  std::vector<std::pair<int, int>> cell(refs.points.size());
  for (size_t i = 0; i < refs.points.size(); ++i) {
    const auto& p = refs.points[i];
    const double px = inv[0] + inv[1] * p.x + inv[2] * p.y;
    const double py = inv[3] + inv[4] * p.x + inv[5] * p.y;
    if (!(px >= 0 && py >= 0 && px < source.width() && py < source.height())) {
      ++out.outside;
      continue;
    }
    cell[i] = {static_cast<int>(px), static_cast<int>(py)};
    byBlock[{cell[i].first / source.blockWidth(), cell[i].second / source.blockHeight()}].push_back(
        i);
  }
  const int d = source.bands();
  // Filled by point index first, so rows come out in the points' order
  // whatever order the blocks are read in.
  std::vector<std::vector<float>> features(refs.points.size());
  size_t done = 0;
  std::vector<float> planes;
  for (const auto& [block, indices] : byBlock) {
    const CellRect window =
        CellRect{block.first * source.blockWidth(), block.second * source.blockHeight(),
                 source.blockWidth(), source.blockHeight()}
            .intersect({0, 0, source.width(), source.height()});
    if (!source.read(window, planes)) return false;
    const size_t n = static_cast<size_t>(window.width) * window.height;
    for (const size_t i : indices) {
      const size_t at = static_cast<size_t>(cell[i].second - window.y0) * window.width +
                        (cell[i].first - window.x0);
      if (std::isnan(planes[at])) {
        ++out.noData;
        continue;
      }
      features[i].resize(static_cast<size_t>(d));
      for (int b = 0; b < d; ++b) features[i][static_cast<size_t>(b)] = planes[b * n + at];
    }
    done += indices.size();
    if (progress &&
        !progress(static_cast<double>(done) / static_cast<double>(refs.points.size()),
                  CPLSPrintf("%s: reading features under the points", driver), progressData)) {
      CPLError(CE_Failure, CPLE_UserInterrupt, "%s: interrupted", driver);
      return false;
    }
  }
  size_t usable = 0;
  for (const auto& f : features) usable += f.empty() ? 0 : 1;
  out.rows.resize(static_cast<Eigen::Index>(usable), d);
  Eigen::Index r = 0;
  for (size_t i = 0; i < features.size(); ++i) {
    if (features[i].empty()) continue;
    for (int b = 0; b < d; ++b) out.rows(r, b) = features[i][static_cast<size_t>(b)];
    out.group.push_back(refs.points[i].group);
    out.cell.push_back(static_cast<int64_t>(cell[i].second) * source.width() + cell[i].first);
    out.point.push_back(i);
    ++r;
  }
  return true;
}

std::string vectorIdentity(const std::string& path) {
  std::string id = path + fileStamp(path);
  // Shapefiles and the like keep the attributes and geometry in siblings.
  for (const char* ext : {"dbf", "shx", "prj"}) {
    const std::string sibling = CPLResetExtension(path.c_str(), ext);
    const std::string stamp = sibling != path ? fileStamp(sibling) : std::string();
    if (!stamp.empty()) id += std::string("|") + ext + stamp;
  }
  return id;
}

}  // namespace vitfeat
