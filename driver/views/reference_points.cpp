#include "driver/views/reference_points.h"

#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal_priv.h>
#include <ogr_geometry.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "pixelfunctions/random.h"

namespace vitfeat {

namespace {

struct TransformDeleter {
  void operator()(OGRCoordinateTransformation* t) const {
    OGRCoordinateTransformation::DestroyCT(t);
  }
};
using Transform = std::unique_ptr<OGRCoordinateTransformation, TransformDeleter>;

// A transformation into the raster's CRS, or none when the CRSs are the same
// or one is unknown. false + CPLError when they cannot be related.
bool makeTransform(const OGRSpatialReference* from, const OGRSpatialReference* to,
                   const char* driver, const std::string& what, Transform* out) {
  if (!from || !to || from->IsEmpty() || to->IsEmpty() || from->IsSame(to)) return true;
  OGRSpatialReference a(*from), b(*to);
  a.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  b.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  out->reset(OGRCreateCoordinateTransformation(&a, &b));
  if (!*out) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: cannot transform %s into the raster's CRS", driver,
             what.c_str());
    return false;
  }
  return true;
}

bool transform(const Transform& t, double* x, double* y) {
  return !t || t->Transform(1, x, y) == TRUE;
}

// Seeded points inside a polygon by rejection from its envelope.
void samplePolygon(const OGRGeometry& g, int n, math::Random& random,
                   std::vector<std::pair<double, double>>& out) {
  OGREnvelope e;
  g.getEnvelope(&e);
  int found = 0;
  for (long attempt = 0; found < n && attempt < 10000L * n; ++attempt) {
    OGRPoint p(e.MinX + random.uniform() * (e.MaxX - e.MinX),
               e.MinY + random.uniform() * (e.MaxY - e.MinY));
    if (g.Contains(&p)) {
      out.emplace_back(p.getX(), p.getY());
      ++found;
    }
  }
}

// Seeded points along a line, uniform in length.
void sampleLine(const OGRCurve& c, int n, math::Random& random,
                std::vector<std::pair<double, double>>& out) {
  const double length = c.get_Length();
  for (int i = 0; i < n; ++i) {
    OGRPoint p;
    c.Value(random.uniform() * length, &p);
    out.emplace_back(p.getX(), p.getY());
  }
}

struct Shapes {
  std::vector<std::pair<double, double>> points;
  std::vector<std::unique_ptr<OGRGeometry>> areas;  // polygons
  std::vector<std::unique_ptr<OGRGeometry>> lines;  // curves
};

void collect(const OGRGeometry* g, Shapes& s) {
  if (!g || g->IsEmpty()) return;
  const OGRwkbGeometryType type = wkbFlatten(g->getGeometryType());
  if (type == wkbPoint) {
    const auto* p = g->toPoint();
    s.points.emplace_back(p->getX(), p->getY());
  } else if (OGR_GT_IsSubClassOf(type, wkbCurvePolygon) || type == wkbPolygon) {
    s.areas.emplace_back(g->clone());
  } else if (OGR_GT_IsCurve(type)) {
    s.lines.emplace_back(g->clone());
  } else if (OGR_GT_IsSubClassOf(type, wkbGeometryCollection)) {
    for (const OGRGeometry* part : g->toGeometryCollection()) collect(part, s);
  }
}

}  // namespace

std::optional<ReferencePoints> pointsFromText(const std::string& text, const std::string& srs,
                                              const OGRSpatialReference* rasterSrs,
                                              const char* driver) {
  ReferencePoints r;
  r.groups.push_back("");
  Transform t;
  OGRSpatialReference from;
  if (!srs.empty()) {
    if (from.SetFromUserInput(srs.c_str()) != OGRERR_NONE) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "%s: invalid POINTS_SRS=%s: expected a CRS GDAL understands, e.g. EPSG:4326", driver,
               srs.c_str());
      return std::nullopt;
    }
    if (!makeTransform(&from, rasterSrs, driver, "POINTS_SRS=" + srs, &t)) return std::nullopt;
  }
  const CPLStringList pairs(CSLTokenizeString2(text.c_str(), ";", 0));
  for (int i = 0; i < pairs.size(); ++i) {
    const CPLStringList xy(CSLTokenizeString2(pairs[i], ", ", 0));
    char* end1 = nullptr;
    char* end2 = nullptr;
    const double x = xy.size() == 2 ? CPLStrtod(xy[0], &end1) : NAN;
    const double y = xy.size() == 2 ? CPLStrtod(xy[1], &end2) : NAN;
    if (xy.size() != 2 || *end1 || *end2 || !std::isfinite(x) || !std::isfinite(y)) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "%s: invalid POINTS=%s: point %d (\"%s\") is not x,y; expected x,y;x,y;...", driver,
               text.c_str(), i + 1, pairs[i]);
      return std::nullopt;
    }
    double px = x, py = y;
    if (!transform(t, &px, &py)) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: POINTS: cannot transform point %g,%g", driver, x,
               y);
      return std::nullopt;
    }
    r.points.push_back({px, py, 0});
  }
  if (r.points.empty()) {
    CPLError(CE_Failure, CPLE_IllegalArg, "%s: invalid POINTS=%s: expected x,y;x,y;...", driver,
             text.c_str());
    return std::nullopt;
  }
  return r;
}

std::optional<ReferencePoints> pointsFromVector(const VectorQuery& q,
                                                const OGRSpatialReference* rasterSrs,
                                                const char* driver) {
  std::unique_ptr<GDALDataset> ds(GDALDataset::Open(
      q.path.c_str(), GDAL_OF_VECTOR | GDAL_OF_VERBOSE_ERROR, nullptr, nullptr, nullptr));
  if (!ds) {
    const std::string why = CPLGetLastErrorMsg();
    CPLError(CE_Failure, CPLE_OpenFailed, "%s: cannot open %s=%s: %s", driver, q.pathOption,
             q.path.c_str(), why.c_str());
    return std::nullopt;
  }
  OGRLayer* layer = q.layer.empty() ? ds->GetLayer(0) : ds->GetLayerByName(q.layer.c_str());
  if (!layer) {
    std::string names;
    for (OGRLayer* l : ds->GetLayers())
      names += (names.empty() ? "" : ", ") + std::string(l->GetName());
    CPLError(CE_Failure, CPLE_IllegalArg, "%s: invalid LAYER=%s: %s has the layers: %s", driver,
             q.layer.c_str(), q.path.c_str(), names.empty() ? "(none)" : names.c_str());
    return std::nullopt;
  }
  if (!q.where.empty() && layer->SetAttributeFilter(q.where.c_str()) != OGRERR_NONE) {
    CPLError(CE_Failure, CPLE_IllegalArg, "%s: invalid WHERE=%s for layer %s", driver,
             q.where.c_str(), layer->GetName());
    return std::nullopt;
  }
  int field = -1;
  bool numeric = false;
  if (!q.groupBy.empty()) {
    field = layer->GetLayerDefn()->GetFieldIndex(q.groupBy.c_str());
    if (field < 0) {
      std::string names;
      for (int i = 0; i < layer->GetLayerDefn()->GetFieldCount(); ++i)
        names +=
            (i ? ", " : "") + std::string(layer->GetLayerDefn()->GetFieldDefn(i)->GetNameRef());
      CPLError(CE_Failure, CPLE_IllegalArg, "%s: invalid %s=%s: layer %s has the fields: %s",
               driver, q.groupByOption, q.groupBy.c_str(), layer->GetName(),
               names.empty() ? "(none)" : names.c_str());
      return std::nullopt;
    }
    const OGRFieldType type = layer->GetLayerDefn()->GetFieldDefn(field)->GetType();
    numeric = type == OFTInteger || type == OFTInteger64 || type == OFTReal;
  }
  Transform t;
  if (!makeTransform(layer->GetSpatialRef(), rasterSrs, driver,
                     std::string("layer ") + layer->GetName(), &t))
    return std::nullopt;

  // Shapes per group, in the layer's CRS.
  std::map<std::string, Shapes> byGroup;
  std::map<std::string, double> numericValue;
  layer->ResetReading();
  long long unlabelled = 0;
  for (auto& feature : *layer) {
    std::string group;
    if (field >= 0) {
      if (!feature->IsFieldSetAndNotNull(field)) {
        ++unlabelled;
        continue;
      }
      group = feature->GetFieldAsString(field);
      if (numeric) numericValue[group] = feature->GetFieldAsDouble(field);
    }
    collect(feature->GetGeometryRef(), byGroup[group]);
  }
  // Left out, but not silently: a class field left empty is usually a mistake.
  if (unlabelled > 0)
    CPLError(CE_Warning, CPLE_AppDefined,
             "%s: %lld feature(s) of layer %s have no %s value (NULL or unset) and are not used",
             driver, unlabelled, layer->GetName(), q.groupBy.c_str());
  std::vector<std::string> groups;
  for (const auto& [g, shapes] : byGroup) groups.push_back(g);
  if (numeric)
    std::stable_sort(groups.begin(), groups.end(), [&](const std::string& a, const std::string& b) {
      return numericValue[a] < numericValue[b];
    });

  ReferencePoints r;
  r.groups = groups;
  math::Random random(q.seed);
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    Shapes& s = byGroup[groups[gi]];
    std::vector<std::pair<double, double>> xy = s.points;
    // SAMPLES points over the group's polygons, spread by area (at least one
    // each), and likewise over its lines by length.
    double area = 0, length = 0;
    for (const auto& g : s.areas) area += g->toSurface()->get_Area();
    for (const auto& g : s.lines) length += g->toCurve()->get_Length();
    for (const auto& g : s.areas) {
      const double a = g->toSurface()->get_Area();
      samplePolygon(*g, std::max(1, static_cast<int>(std::lround(q.samples * a / area))), random,
                    xy);
    }
    for (const auto& g : s.lines) {
      const double l = g->toCurve()->get_Length();
      sampleLine(
          *g->toCurve(),
          std::max(1, static_cast<int>(std::lround(q.samples * (length > 0 ? l / length : 1)))),
          random, xy);
    }
    for (auto [x, y] : xy) {
      if (!transform(t, &x, &y)) continue;
      r.points.push_back({x, y, static_cast<int>(gi)});
    }
  }
  if (r.points.empty()) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: %s=%s (layer %s%s%s) has no usable geometry", driver,
             q.pathOption, q.path.c_str(), layer->GetName(), q.where.empty() ? "" : ", WHERE ",
             q.where.c_str());
    return std::nullopt;
  }
  return r;
}

}  // namespace vitfeat
