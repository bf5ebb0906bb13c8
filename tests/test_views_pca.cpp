// VITPCA against independent computations: an SVD of the same cells done here
// (components, explained variance ratios, projections, the sign rule), the
// robust stretch of RGB=YES by hand, persistence (descriptor, in-process and
// on-disk fit stores, separate processes), and the VRT export.
#include <cpl_conv.h>

#include <Eigen/SVD>
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

namespace {

constexpr int W = 48, H = 36, D = 12;

// Three latent patterns mixed into D bands with different weights plus a small
// deterministic ripple: clearly ordered components. A 3 x 3 corner has no data.
double feature(int x, int y, int b) {
  if (x < 3 && y < 3) return NAN;
  const double z1 = std::sin(x / 5.0) * 2, z2 = std::cos(y / 4.0), z3 = ((x * y) % 7) / 7.0;
  return (b + 1) * 0.3 * z1 + std::cos(b * 1.3) * z2 + (b % 3 - 1) * 0.5 * z3 +
         0.05 * std::sin(x * 3.1 + y * 1.7 + b);
}

struct Reference {
  Eigen::MatrixXd centred;     // valid cells x D
  std::vector<int> cellIndex;  // valid cell -> y * W + x
  Eigen::MatrixXd V;           // D x D right singular vectors
  Eigen::VectorXd ratio;
  Eigen::VectorXd mean;
};

// PCA done independently: SVD of the centred cells.
Reference reference() {
  Reference r;
  std::vector<std::vector<double>> rows;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      if (std::isnan(feature(x, y, 0))) continue;
      std::vector<double> v(D);
      // Through float32, as stored in the GeoTIFF.
      for (int b = 0; b < D; ++b) v[b] = static_cast<float>(feature(x, y, b));
      rows.push_back(v);
      r.cellIndex.push_back(y * W + x);
    }
  Eigen::MatrixXd X(rows.size(), D);
  for (size_t i = 0; i < rows.size(); ++i)
    for (int b = 0; b < D; ++b) X(i, b) = rows[i][b];
  r.mean = X.colwise().mean().transpose();
  r.centred = X.rowwise() - r.mean.transpose();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(r.centred, Eigen::ComputeThinV);
  r.V = svd.matrixV();
  const Eigen::VectorXd s2 = svd.singularValues().array().square();
  r.ratio = s2 / s2.sum();
  return r;
}

}  // namespace

TEST_CASE("VITPCA equals an SVD of the same cells, up to the documented sign", "[views][pca]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  const Reference ref = reference();
  for (const bool whiten : {false, true}) {
    DatasetPtr ds =
        openDataset("VITPCA:" + feat,
                    {{"N_COMPONENTS", "4"}, {"SAMPLE", "0"}, {"WHITEN", whiten ? "YES" : "NO"}});
    REQUIRE(ds);
    REQUIRE(ds->GetRasterCount() == 4);
    CHECK(ds->GetRasterBand(1)->GetRasterDataType() == GDT_Float32);
    CHECK(std::string(ds->GetMetadataItem("FIT_SAMPLES", "VITPCA")) ==
          std::to_string(ref.cellIndex.size()));
    const auto ratio = metadataNumbers(ds.get(), "EXPLAINED_VARIANCE_RATIO", "VITPCA");
    REQUIRE(ratio.size() == 4);
    const std::vector<float> out = readAll(ds.get());
    const size_t plane = static_cast<size_t>(W) * H;
    for (int c = 0; c < 4; ++c) {
      CHECK(ratio[c] == Approx(ref.ratio(c)).epsilon(1e-5));
      const auto component = metadataNumbers(ds.get(), CPLSPrintf("COMPONENT_%d", c + 1), "VITPCA");
      REQUIRE(component.size() == D);
      // The documented sign: the largest-magnitude loading is positive.
      Eigen::VectorXd v = ref.V.col(c);
      Eigen::Index largest = 0;
      v.cwiseAbs().maxCoeff(&largest);
      if (v(largest) < 0) v = -v;
      CHECK(component[largest] > 0);
      double componentDiff = 0;
      for (int b = 0; b < D; ++b)
        componentDiff = std::max(componentDiff, std::fabs(component[b] - v(b)));
      CHECK(componentDiff < 1e-6);
      // Projections of every valid cell; no data stays NaN.
      const Eigen::VectorXd p = ref.centred * v;
      const double scale =
          whiten ? std::sqrt(p.squaredNorm() / (p.size() - 1)) : 1.0;  // sklearn's whiten
      double projectionDiff = 0;
      for (size_t i = 0; i < ref.cellIndex.size(); ++i)
        projectionDiff =
            std::max(projectionDiff, std::fabs(out[c * plane + ref.cellIndex[i]] - p(i) / scale));
      INFO("component " << c + 1 << (whiten ? " whitened" : ""));
      CHECK(projectionDiff < 1e-4);
      CHECK(std::isnan(out[c * plane + 0]));
    }
  }
}

TEST_CASE("VITPCA samples whole blocks, seeded", "[views][pca]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  DatasetPtr a = openDataset("VITPCA:" + feat, {{"SAMPLE", "300"}, {"SEED", "7"}});
  REQUIRE(a);
  CHECK(std::string(a->GetMetadataItem("FIT_SAMPLES", "VITPCA")) == "300");
  const int blocks = std::atoi(a->GetMetadataItem("FIT_BLOCKS_READ", "VITPCA"));
  // 16 x 16 blocks of 256 cells: 300 cells need 2 (3 when one has the no-data corner) of 9.
  CHECK(blocks >= 2);
  CHECK(blocks <= 3);
  const auto first = readAll(a.get());
  // Another handle, another seed: another sample, other numbers.
  DatasetPtr b = openDataset("VITPCA:" + feat, {{"SAMPLE", "300"}, {"SEED", "8"}});
  REQUIRE(b);
  CHECK(!sameValues(readAll(b.get()), first));
}

TEST_CASE("VITPCA RGB=YES stretches components 1-3 between the 2nd and 98th percentiles",
          "[views][pca]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  DatasetPtr f = openDataset("VITPCA:" + feat, {{"SAMPLE", "0"}});
  DatasetPtr rgb = openDataset("VITPCA:" + feat, {{"SAMPLE", "0"}, {"RGB", "YES"}});
  REQUIRE(f);
  REQUIRE(rgb);
  REQUIRE(rgb->GetRasterCount() == 3);
  const GDALColorInterp expected[] = {GCI_RedBand, GCI_GreenBand, GCI_BlueBand};
  const std::vector<float> pcs = readAll(f.get());
  const std::vector<float> bytes = readAll(rgb.get());
  const size_t plane = static_cast<size_t>(W) * H;
  for (int c = 0; c < 3; ++c) {
    GDALRasterBand* band = rgb->GetRasterBand(c + 1);
    CHECK(band->GetRasterDataType() == GDT_Byte);
    CHECK(band->GetColorInterpretation() == expected[c]);
    int has = 0;
    CHECK(band->GetNoDataValue(&has) == 0);
    CHECK(has);
    // Percentiles by hand: sorted valid projections, linear interpolation.
    std::vector<double> v;
    for (size_t i = 0; i < plane; ++i)
      if (!std::isnan(pcs[c * plane + i])) v.push_back(pcs[c * plane + i]);
    std::sort(v.begin(), v.end());
    const auto pct = [&](double q) {
      const double pos = q / 100 * (v.size() - 1);
      const size_t lo = static_cast<size_t>(std::floor(pos));
      const size_t hi = std::min(lo + 1, v.size() - 1);
      return v[lo] + (pos - lo) * (v[hi] - v[lo]);
    };
    const auto stretch = metadataNumbers(rgb.get(), CPLSPrintf("STRETCH_%d", c + 1), "VITPCA");
    REQUIRE(stretch.size() == 2);
    CHECK(stretch[0] == Approx(pct(2)).margin(1e-5));
    CHECK(stretch[1] == Approx(pct(98)).margin(1e-5));
    int mismatches = 0;
    for (size_t i = 0; i < plane; ++i) {
      const float p = pcs[c * plane + i];
      const float got = bytes[c * plane + i];
      if (std::isnan(p)) {
        if (got != 0) ++mismatches;
        continue;
      }
      const double t = std::clamp((p - stretch[0]) / (stretch[1] - stretch[0]), 0.0, 1.0);
      // Rounding of values right at .5 may differ by one between float paths.
      if (std::fabs(got - (1 + std::round(254 * t))) > 1) ++mismatches;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("VITPCA fits are persisted: descriptor, process, fit cache, other processes",
          "[views][pca]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  const std::string fits = tmp.file("fits");
  CPLSetConfigOption("VITFEAT_FIT_CACHE", fits.c_str());
  DatasetPtr view = openDataset("VITPCA:" + feat, {{"SAMPLE", "400"}, {"SEED", "3"}});
  REQUIRE(view);
  CHECK(std::string(view->GetMetadataItem("FIT_FROM", "VITPCA")) == "sample");
  const std::vector<float> values = readAll(view.get());

  // The same view again in this process: the stored fit, not a new sample.
  DatasetPtr again = openDataset("VITPCA:" + feat, {{"SAMPLE", "400"}, {"SEED", "3"}});
  REQUIRE(again);
  CHECK(std::string(again->GetMetadataItem("FIT_FROM", "VITPCA")) == "cache");
  CHECK(sameValues(readAll(again.get()), values));
  CPLSetConfigOption("VITFEAT_FIT_CACHE", nullptr);

  // A descriptor holds the fit: reopening it does not sample.
  const std::string desc = tmp.file("pca.vitpca");
  GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("VITPCA");
  REQUIRE(driver);
  DatasetPtr copy(driver->CreateCopy(desc.c_str(), view.get(), FALSE, nullptr, nullptr, nullptr));
  REQUIRE(copy);
  CHECK(std::string(copy->GetMetadataItem("FIT_FROM", "VITPCA")) == "descriptor");
  CHECK(sameValues(readAll(copy.get()), values));

  // Other processes: the on-disk store from this one, and fresh fits without it.
  const std::string info =
      gdal("gdalinfo -mdd VITPCA VITPCA:" + feat + " -oo SAMPLE=400 -oo SEED=3", fits);
  CHECK(info.find("FIT_FROM=cache") != std::string::npos);
  gdal("gdal_translate -q VITPCA:" + feat + " -oo SAMPLE=400 -oo SEED=3 " + tmp.file("p1.tif"));
  gdal("gdal_translate -q VITPCA:" + feat + " -oo SAMPLE=400 -oo SEED=3 " + tmp.file("p2.tif"));
  gdal("gdal_translate -q " + desc + " " + tmp.file("p3.tif"));
  CHECK(sameValues(readFile(tmp.file("p1.tif")), values));
  CHECK(sameValues(readFile(tmp.file("p2.tif")), values));
  CHECK(sameValues(readFile(tmp.file("p3.tif")), values));
}

TEST_CASE("VITPCA exported as a VRT of pixel functions reads like the view", "[views][pca][vrt]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  for (const bool rgb : {false, true}) {
    const std::map<std::string, std::string> options = {{"SAMPLE", "500"},
                                                        {"RGB", rgb ? "YES" : "NO"}};
    DatasetPtr view = openDataset("VITPCA:" + feat, options);
    REQUIRE(view);
    const std::string vrt = tmp.file(rgb ? "rgb.vrt" : "pca.vrt");
    gdal("gdal_translate -q -of VITPCA VITPCA:" + feat +
         " -oo SAMPLE=500 -oo RGB=" + (rgb ? "YES " : "NO ") + vrt);
    const std::string tif = tmp.file(rgb ? "rgb_vrt.tif" : "pca_vrt.tif");
    gdal("gdal_translate -q " + vrt + " " + tif);
    const std::vector<float> expected = readAll(view.get());
    const std::vector<float> got = readFile(tif);
    REQUIRE(got.size() == expected.size());
    double diff = 0;
    int nanMismatch = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(expected[i]) != std::isnan(got[i])) ++nanMismatch;
      if (!std::isnan(expected[i])) diff = std::max(diff, double(std::fabs(expected[i] - got[i])));
    }
    INFO((rgb ? "RGB" : "float") << " max diff " << diff);
    CHECK(nanMismatch == 0);
    CHECK(diff <= (rgb ? 1.0 : 1e-4));
  }
}

TEST_CASE("VITPCA rejects bad options with the value and what is valid", "[views][pca]") {
  TempDir tmp;
  const std::string feat = tmp.file("feat.tif");
  writeFeatures(feat, W, H, D, feature);
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"N_COMPONENTS", "13"}}, "N_COMPONENTS=13: the feature source"},
      {{{"N_COMPONENTS", "0"}}, "N_COMPONENTS=0"},
      {{{"N_COMPONENTS", "2"}, {"RGB", "YES"}}, "RGB=YES shows exactly 3"},
      {{{"SAMPLE", "-5"}}, "SAMPLE=-5"},
      {{{"WHITEN", "perhaps"}}, "expected YES or NO"},
      {{{"SEED", "x"}}, "SEED=x"},
  };
  for (const auto& [options, message] : cases) checkOpenFails("VITPCA:" + feat, options, message);
  checkOpenFails("VITPCA:" + tmp.file("missing.tif"), {}, "cannot open the feature source");
}
