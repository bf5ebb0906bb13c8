// VITCLUSTER on synthetic, well separated clusters: labels equal the truth up
// to a permutation, inertia equals a recomputation from the saved centroids,
// the same seed gives the same labels in this and other processes, labels are
// ordered by size, and the band looks like a classification to GDAL.
#include <cpl_conv.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

namespace {

constexpr int W = 40, H = 30, D = 8, K = 4;

// Four regions of unequal size; each region's cells sit near its own centre.
int truth(int x, int y) {
  if (x < 20 && y < 12) return 0;
  if (x < 20) return 1;
  if (y < 8) return 2;
  return 3;
}

double feature(int x, int y, int b) {
  if (x == 39 && y == 29) return NAN;  // one cell without data
  const int k = truth(x, y);
  const double centre = 10.0 * std::cos(k * 2.1 + b * 0.7) + 5 * (b == k);
  return centre + 0.2 * std::sin(x * 12.9898 + y * 78.233 + b * 3.7);
}

}  // namespace

TEST_CASE("VITCLUSTER finds well separated clusters, labels ordered by size", "[views][cluster]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  DatasetPtr ds = openDataset("VITCLUSTER:" + feat, {{"N_CLUSTERS", "4"}, {"SAMPLE", "0"}});
  REQUIRE(ds);
  REQUIRE(ds->GetRasterCount() == 1);
  GDALRasterBand* band = ds->GetRasterBand(1);
  CHECK(band->GetRasterDataType() == GDT_Byte);
  int has = 0;
  CHECK(band->GetNoDataValue(&has) == 255);
  REQUIRE(band->GetColorTable());
  CHECK(band->GetColorTable()->GetColorEntryCount() == K);
  CHECK(CSLCount(band->GetCategoryNames()) == K);
  const std::vector<float> labels = readAll(ds.get());

  std::map<int, std::set<int>> truthToLabel, labelToTruth;
  std::map<int, int> sizes;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float l = labels[y * W + x];
      if (std::isnan(feature(x, y, 0))) {
        CHECK(l == 255);
        continue;
      }
      truthToLabel[truth(x, y)].insert(static_cast<int>(l));
      labelToTruth[static_cast<int>(l)].insert(truth(x, y));
      ++sizes[static_cast<int>(l)];
    }
  // A bijection between true clusters and labels.
  REQUIRE(truthToLabel.size() == K);
  REQUIRE(labelToTruth.size() == K);
  for (const auto& [t, ls] : truthToLabel) CHECK(ls.size() == 1);
  for (const auto& [l, ts] : labelToTruth) CHECK(ts.size() == 1);
  // Label 0 is the largest cluster, and the sizes in metadata are the counts.
  const auto meta = metadataNumbers(ds.get(), "CLUSTER_SIZES", "VITCLUSTER");
  REQUIRE(meta.size() == K);
  for (int l = 0; l < K; ++l) {
    CHECK(meta[l] == sizes[l]);
    if (l > 0) CHECK(sizes[l - 1] >= sizes[l]);
  }
  // Inertia: squared distances of every cell to its centroid, recomputed here.
  double inertia = 0;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      if (std::isnan(feature(x, y, 0))) continue;
      const auto c = metadataNumbers(ds.get(), CPLSPrintf("CENTROID_%d", int(labels[y * W + x])),
                                     "VITCLUSTER");
      REQUIRE(c.size() == D);
      for (int b = 0; b < D; ++b) {
        const double diff = static_cast<float>(feature(x, y, b)) - c[b];
        inertia += diff * diff;
      }
    }
  CHECK(CPLAtof(ds->GetMetadataItem("INERTIA", "VITCLUSTER")) == Approx(inertia).epsilon(1e-6));
}

TEST_CASE("VITCLUSTER's metadata names the options in force for its method", "[views][cluster]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  DatasetPtr kmeans = openDataset("VITCLUSTER:" + feat, {{"N_CLUSTERS", "4"}});
  REQUIRE(kmeans);
  CHECK(std::string(kmeans->GetMetadataItem("SAMPLE", "VITCLUSTER")) == "10000");
  CHECK(std::string(kmeans->GetMetadataItem("N_INIT", "VITCLUSTER")) == "4");
  for (const char* other : {"MIN_CLUSTER_SIZE", "MIN_SAMPLES", "METRIC", "MEMBERSHIP"})
    CHECK(kmeans->GetMetadataItem(other, "VITCLUSTER") == nullptr);
  DatasetPtr hdbscan =
      openDataset("VITCLUSTER:" + feat, {{"METHOD", "hdbscan"}, {"MIN_CLUSTER_SIZE", "10"}});
  REQUIRE(hdbscan);
  CHECK(std::string(hdbscan->GetMetadataItem("SAMPLE", "VITCLUSTER")) == "3000");
  CHECK(std::string(hdbscan->GetMetadataItem("MIN_CLUSTER_SIZE", "VITCLUSTER")) == "10");
  for (const char* other : {"N_CLUSTERS", "N_INIT", "MAX_ITER"})
    CHECK(hdbscan->GetMetadataItem(other, "VITCLUSTER") == nullptr);
}

TEST_CASE("VITCLUSTER warns when features have fewer distinct values than clusters",
          "[views][cluster]") {
  TempDir tmp;
  const std::string feat = tmp.file("flat.tif");
  writeFeatures(feat, W, H, D, [](int, int, int b) { return 0.5 * b; });
  const Warnings warnings;
  DatasetPtr ds = openDataset("VITCLUSTER:" + feat, {{"N_CLUSTERS", "3"}});
  REQUIRE(ds);
  CHECK(warnings.count() == 1);
  CHECK(warnings.messages().find("2 of the N_CLUSTERS=3 clusters are empty") != std::string::npos);
  const auto sizes = metadataNumbers(ds.get(), "CLUSTER_SIZES", "VITCLUSTER");
  REQUIRE(sizes.size() == 3);
  CHECK(sizes[1] == 0);
  CHECK(sizes[2] == 0);
}

TEST_CASE("VITCLUSTER: the same seed gives the same labels in every process", "[views][cluster]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  // Overlapping clusters make the result depend on the seed and the sample.
  writeFeatures(feat, W, H, D, [](int x, int y, int b) {
    return std::sin(x * 0.37 + b) + std::cos(y * 0.23 * (b + 1)) + 0.1 * ((x * 7 + y * 3) % 5);
  });
  const std::map<std::string, std::string> options = {
      {"N_CLUSTERS", "6"}, {"SAMPLE", "500"}, {"SEED", "11"}};
  DatasetPtr ds = openDataset("VITCLUSTER:" + feat, options);
  REQUIRE(ds);
  const std::vector<float> labels = readAll(ds.get());
  const std::string args = " -oo N_CLUSTERS=6 -oo SAMPLE=500 -oo SEED=11 ";
  gdal("gdal_translate -q VITCLUSTER:" + feat + args + tmp.file("a.tif"));
  gdal("gdal_translate -q VITCLUSTER:" + feat + args + tmp.file("b.tif"));
  CHECK(sameValues(readFile(tmp.file("a.tif")), labels));
  CHECK(sameValues(readFile(tmp.file("b.tif")), labels));

  // The VRT export (vitfeat_nearest) labels every cell the same way.
  gdal("gdal_translate -q -of VITCLUSTER VITCLUSTER:" + feat + args + tmp.file("c.vrt"));
  gdal("gdal_translate -q " + tmp.file("c.vrt") + " " + tmp.file("c.tif"));
  CHECK(sameValues(readFile(tmp.file("c.tif")), labels));
  DatasetPtr vrt = openDataset(tmp.file("c.vrt"));
  REQUIRE(vrt);
  REQUIRE(vrt->GetRasterBand(1)->GetColorTable());
  CHECK(CSLCount(vrt->GetRasterBand(1)->GetCategoryNames()) == 6);
}

TEST_CASE("VITCLUSTER: UInt16 labels past 255 clusters; errors name the value",
          "[views][cluster]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  DatasetPtr many =
      openDataset("VITCLUSTER:" + feat, {{"N_CLUSTERS", "300"}, {"SAMPLE", "0"}, {"N_INIT", "1"}});
  REQUIRE(many);
  CHECK(many->GetRasterBand(1)->GetRasterDataType() == GDT_UInt16);
  CHECK(many->GetRasterBand(1)->GetNoDataValue(nullptr) == 65535);
  const std::vector<float> labels = readAll(many.get());
  CHECK(labels[W * H - 1] == 65535);
  CHECK(*std::max_element(labels.begin(), labels.end() - 1) == 299);

  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"N_CLUSTERS", "2000"}, {"SAMPLE", "0"}}, "N_CLUSTERS=2000: only 1199 cells"},
      {{{"N_CLUSTERS", "0"}}, "N_CLUSTERS=0"},
      {{{"N_INIT", "0"}}, "N_INIT=0"},
      {{{"MAX_ITER", "-1"}}, "MAX_ITER=-1"},
  };
  for (const auto& [options, message] : cases)
    checkOpenFails("VITCLUSTER:" + feat, options, message);
}
