// Where the reference features of a similarity view come from: points typed
// as POINTS (x,y;x,y;...) in POINTS_SRS, or the features of a vector dataset
// (points as they are, lines and polygons sampled with seeded points spread by
// length or area), each transformed into the raster's CRS and grouped by a
// field's value when GROUP_BY is given.
#pragma once

#include <ogr_spatialref.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vitfeat {

struct ReferencePoints {
  std::vector<std::string> groups;  // distinct GROUP_BY values (one empty group without it)
  struct Point {
    double x, y;  // raster CRS
    int group;    // index into groups
  };
  std::vector<Point> points;
};

// text: "x,y;x,y;..."; srs: any GDAL SRS definition, empty for the raster's.
std::optional<ReferencePoints> pointsFromText(const std::string& text, const std::string& srs,
                                              const OGRSpatialReference* rasterSrs,
                                              const char* driver);

struct VectorQuery {
  std::string path;
  std::string layer;    // empty: the first
  std::string where;    // OGR SQL attribute filter
  std::string groupBy;  // field name, empty for one group
  int samples = 50;     // points per group drawn in its polygons (and, separately, its lines)
  uint64_t seed = 0;
  // The option names that set path and groupBy, for error messages.
  const char* pathOption = "VECTOR";
  const char* groupByOption = "GROUP_BY";
};

std::optional<ReferencePoints> pointsFromVector(const VectorQuery& query,
                                                const OGRSpatialReference* rasterSrs,
                                                const char* driver);

}  // namespace vitfeat
