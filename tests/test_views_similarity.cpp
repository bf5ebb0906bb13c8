// VITSIM against hand computations: the mean feature of the points, cosine
// similarity per cell; POINTS in another CRS and a VECTOR in another CRS give
// the same result as points in the raster's CRS; GROUP_BY bands and the index
// of the most similar class on a constructed case; points outside the raster
// or on no data are reported.
#include <cpl_conv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

namespace {

constexpr int W = 30, H = 20, D = 6;

// Two uniform patches (class "water" at x<8, y<6 and class "forest" at x>=22,
// y>=14) in a varying background; one cell without data.
std::vector<double> patch(int k) {
  std::vector<double> v(D);
  for (int b = 0; b < D; ++b) v[b] = k == 0 ? 1.0 + b : 3.0 - 0.5 * b * b;
  return v;
}

double feature(int x, int y, int b) {
  if (x == 15 && y == 10) return NAN;
  if (x < 8 && y < 6) return patch(0)[b];
  if (x >= 22 && y >= 14) return patch(1)[b];
  return std::sin(x * 0.3 + b) * 2 + std::cos(y * 0.5 - b);
}

// Centre of cell (x, y) in EPSG:32633 (writeRaster's grid).
double cx(int x) { return 500000 + 10 * (x + 0.5); }
double cy(int y) { return 5200000 - 10 * (y + 0.5); }

double cosine(const std::vector<double>& a, int x, int y) {
  double dot = 0, na = 0, nb = 0;
  for (int b = 0; b < D; ++b) {
    const double f = static_cast<float>(feature(x, y, b));
    dot += a[b] * f;
    na += a[b] * a[b];
    nb += f * f;
  }
  return dot / std::sqrt(na * nb);
}

void toLonLat(double* x, double* y) {
  OGRSpatialReference utm, wgs;
  utm.importFromEPSG(32633);
  wgs.importFromEPSG(4326);
  wgs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> t(OGRCreateCoordinateTransformation(&utm, &wgs));
  REQUIRE(t->Transform(1, x, y));
}

double maxDiff(const std::vector<float>& got, int band,
               const std::function<double(int, int)>& want) {
  double diff = 0;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float g = got[static_cast<size_t>(band) * W * H + y * W + x];
      if (std::isnan(feature(x, y, 0))) {
        if (!std::isnan(g)) return INFINITY;
        continue;
      }
      diff = std::max(diff, std::fabs(g - want(x, y)));
    }
  return diff;
}

}  // namespace

TEST_CASE("VITSIM: cosine similarity to the mean feature of POINTS, in any CRS", "[views][sim]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  // Two points: cells (12, 3) and (4, 15); the reference is their mean.
  std::vector<double> ref(D);
  for (int b = 0; b < D; ++b)
    ref[b] = (static_cast<float>(feature(12, 3, b)) + static_cast<float>(feature(4, 15, b))) / 2;
  const std::string points = CPLSPrintf("%.3f,%.3f;%.3f,%.3f", cx(12), cy(3), cx(4), cy(15));
  DatasetPtr ds = openDataset("VITSIM:" + feat, {{"POINTS", points}});
  REQUIRE(ds);
  REQUIRE(ds->GetRasterCount() == 1);
  const std::vector<float> sim = readAll(ds.get());
  const double diff = maxDiff(sim, 0, [&](int x, int y) { return cosine(ref, x, y); });
  INFO("max diff " << diff);
  CHECK(diff < 1e-5);
  CHECK(sim[3 * W + 12] == Approx(cosine(ref, 12, 3)).margin(1e-6));

  // The same points in longitude/latitude, as POINTS_SRS and as a VECTOR.
  double x1 = cx(12), y1 = cy(3), x2 = cx(4), y2 = cy(15);
  toLonLat(&x1, &y1);
  toLonLat(&x2, &y2);
  DatasetPtr geo = openDataset("VITSIM:" + feat,
                               {{"POINTS", CPLSPrintf("%.12f,%.12f;%.12f,%.12f", x1, y1, x2, y2)},
                                {"POINTS_SRS", "EPSG:4326"}});
  REQUIRE(geo);
  CHECK(sameValues(readAll(geo.get()), sim));
  const std::string gpkg = tmp.file("points.gpkg");
  writeVector(gpkg, 4326,
              {{CPLSPrintf("POINT (%.12f %.12f)", x1, y1), "a"},
               {CPLSPrintf("POINT (%.12f %.12f)", x2, y2), "a"}});
  DatasetPtr vec = openDataset("VITSIM:" + feat, {{"VECTOR", gpkg}});
  REQUIRE(vec);
  CHECK(sameValues(readAll(vec.get()), sim));
}

TEST_CASE("VITSIM GROUP_BY: a band per class and the most similar class", "[views][sim]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  // Polygons inside the two uniform patches (sampled: every sample has the
  // patch's feature, so the reference is exactly it), plus one point.
  const std::string gpkg = tmp.file("classes.gpkg");
  const auto box = [](int x0, int y0, int x1, int y1) {
    return CPLSPrintf("POLYGON ((%f %f,%f %f,%f %f,%f %f,%f %f))", cx(x0), cy(y0), cx(x1), cy(y0),
                      cx(x1), cy(y1), cx(x0), cy(y1), cx(x0), cy(y0));
  };
  writeVector(gpkg, 32633,
              {{box(1, 1, 6, 4), "water"},
               {box(23, 15, 28, 18), "forest"},
               {CPLSPrintf("POINT (%f %f)", cx(25), cy(16)), "forest"}});
  DatasetPtr ds = openDataset("VITSIM:" + feat, {{"VECTOR", gpkg}, {"GROUP_BY", "class"}});
  REQUIRE(ds);
  REQUIRE(ds->GetRasterCount() == 3);
  // Classes in sorted order: forest, water.
  CHECK(std::string(ds->GetRasterBand(1)->GetDescription()) == "forest");
  CHECK(std::string(ds->GetRasterBand(2)->GetDescription()) == "water");
  CHECK(std::string(ds->GetRasterBand(3)->GetDescription()) == "most_similar");
  const std::vector<float> out = readAll(ds.get());
  const std::vector<double> forest = patch(1), water = patch(0);
  CHECK(maxDiff(out, 0, [&](int x, int y) { return cosine(forest, x, y); }) < 1e-5);
  CHECK(maxDiff(out, 1, [&](int x, int y) { return cosine(water, x, y); }) < 1e-5);
  CHECK(maxDiff(out, 2, [&](int x, int y) {
          return cosine(forest, x, y) >= cosine(water, x, y) ? 0.0 : 1.0;
        }) == 0);
  CHECK(out[2 * W * H + 2 * W + 2] == 1);    // inside the water patch
  CHECK(out[2 * W * H + 16 * W + 25] == 0);  // inside the forest patch

  // Exported as VRT: vitfeat_cosine and vitfeat_nearest (cosine) agree.
  gdal("gdal_translate -q -of VITSIM VITSIM:" + feat + " -oo VECTOR=" + gpkg +
       " -oo GROUP_BY=class " + tmp.file("sim.vrt"));
  gdal("gdal_translate -q " + tmp.file("sim.vrt") + " " + tmp.file("sim.tif"));
  const std::vector<float> vrt = readFile(tmp.file("sim.tif"));
  REQUIRE(vrt.size() == out.size());
  double diff = 0;
  for (size_t i = 0; i < out.size(); ++i)
    if (!std::isnan(out[i])) diff = std::max(diff, double(std::fabs(out[i] - vrt[i])));
  CHECK(diff < 1e-5);
}

TEST_CASE("VITSIM reports points outside the raster or on no data", "[views][sim]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  {
    ExpectErrors quiet;
    DatasetPtr ds = openDataset(
        "VITSIM:" + feat,
        {{"POINTS", CPLSPrintf("%f,%f;%f,%f;%f,%f", cx(3), cy(3), cx(15), cy(10), cx(-5), cy(2))}});
    REQUIRE(ds);
    CHECK(std::string(CPLGetLastErrorMsg()) ==
          "VITSIM: 2 of 3 reference points ignored: 1 outside the raster, 1 on no data");
    CHECK(std::string(ds->GetMetadataItem("POINTS_USED", "VITSIM")) == "1");
  }
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"POINTS", CPLSPrintf("%f,%f", cx(40), cy(2))}}, "no reference point lies on data"},
      {{{"POINTS", "1,2;3"}}, "point 2 (\"3\") is not x,y"},
      {{}, "exactly one of POINTS"},
      {{{"POINTS", "1,2"}, {"GROUP_BY", "class"}}, "GROUP_BY needs VECTOR"},
      {{{"POINTS", "1,2"}, {"POINTS_SRS", "EPSG:999999"}}, "invalid POINTS_SRS=EPSG:999999"},
      {{{"VECTOR", tmp.file("none.gpkg")}}, "cannot open VECTOR="},
  };
  for (const auto& [options, message] : cases) checkOpenFails("VITSIM:" + feat, options, message);
}
