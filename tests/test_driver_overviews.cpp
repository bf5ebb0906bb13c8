// Overviews, PAM and progress of the VITFEAT driver and the views:
// - a computed overview level equals the features of the input averaged by
//   hand (2x2 / 4x4 pixel means, computed here) and run through the same model;
// - its input pixels are the means of their own f x f blocks also when the
//   raster's size is not a multiple of f (a partial block at an edge);
// - reading a zoomed-out view computes only coarse tiles;
// - OVERVIEWS=NONE / a factor list / invalid lists;
// - IRasterIO reports progress and can be cancelled;
// - statistics and gdaladdo's .ovr persist beside a descriptor;
// - a view's overview applies the same fit to the feature overview.
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal_priv.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "driver/register.h"
#include "driver/source_raster.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

namespace {

constexpr int kSize = 256;  // source pixels per side
constexpr int kBands = 3;

double pixel(int x, int y, int b) {
  // Smooth structure plus texture, so averaging changes the values.
  return 40 + 60 * std::sin(x * 0.05 + b) * std::cos(y * 0.03) + ((x * 7 + y * 13 + b * 5) % 23) +
         (x > 128 ? 80 : 0);
}

struct Fixture {
  TempDir dir;
  std::string model = writeTinyModel(dir.file("vit"), 64, 1, 32, 3);  // 4 cells of 16 px per tile
  std::string source = dir.file("source.tif");

  Fixture() {
    setupGdal();
    writeRaster(source, kSize, kSize, kBands, GDT_Float32, pixel);
  }
  // The source averaged over f x f pixel blocks, computed here in double.
  std::string averaged(int f) const {
    const std::string path = dir.file("avg" + std::to_string(f) + ".tif");
    writeRaster(path, kSize / f, kSize / f, kBands, GDT_Float32, [f](int x, int y, int b) {
      double sum = 0;
      for (int dy = 0; dy < f; ++dy)
        for (int dx = 0; dx < f; ++dx) sum += static_cast<float>(pixel(x * f + dx, y * f + dy, b));
      return sum / (f * f);
    });
    return path;
  }
  // Options without statistics: NORMALIZE=model with a fixed scale gives the
  // same normalisation to the source and to a hand-averaged copy of it.
  std::map<std::string, std::string> options(std::map<std::string, std::string> extra = {}) const {
    extra["MODEL"] = model;
    extra["NORMALIZE"] = "model";
    extra["SCALE"] = "255";
    return extra;
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

unsigned long long counter(GDALDataset* ds, const char* name) {
  const char* v = ds->GetMetadataItem(name, "VITFEAT");
  REQUIRE(v);
  return std::strtoull(v, nullptr, 10);
}

std::vector<float> readBand(GDALRasterBand* band) {
  std::vector<float> v(static_cast<size_t>(band->GetXSize()) * band->GetYSize());
  REQUIRE(band->RasterIO(GF_Read, 0, 0, band->GetXSize(), band->GetYSize(), v.data(),
                         band->GetXSize(), band->GetYSize(), GDT_Float32, 0, 0,
                         nullptr) == CE_None);
  return v;
}

float maxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("AUTO overviews halve the input until it fits in one tile") {
  const Fixture& f = fixture();
  auto ds = openFeatures(f.source, f.options());
  REQUIRE(ds);
  CHECK(ds->GetRasterXSize() == 16);
  GDALRasterBand* band = ds->GetRasterBand(1);
  REQUIRE(band->GetOverviewCount() == 2);  // 128 px and 64 px inputs; 64 px is one tile
  CHECK(band->GetOverview(0)->GetXSize() == 8);
  CHECK(band->GetOverview(1)->GetXSize() == 4);
  CHECK(std::string(ds->GetMetadataItem("OVERVIEWS", "VITFEAT")) == "2,4");
  // Overview pixels are 2x and 4x larger on the ground.
  double gt[6], ovGt[6];
  REQUIRE(ds->GetGeoTransform(gt) == CE_None);
  REQUIRE(band->GetOverview(1)->GetDataset()->GetGeoTransform(ovGt) == CE_None);
  CHECK(ovGt[1] == Approx(4 * gt[1]));
  CHECK(ovGt[0] == Approx(gt[0]));
}

TEST_CASE("an overview level is the model run on the input averaged by hand") {
  const Fixture& f = fixture();
  auto ds = openFeatures(f.source, f.options({{"STRIDE", "32"}, {"BLEND", "cosine"}}));
  REQUIRE(ds);
  for (const int level : {0, 1}) {
    const int factor = 2 << level;
    auto reference =
        openFeatures(f.averaged(factor),
                     f.options({{"STRIDE", "32"}, {"BLEND", "cosine"}, {"OVERVIEWS", "NONE"}}));
    REQUIRE(reference);
    GDALDataset* ov = ds->GetRasterBand(1)->GetOverview(level)->GetDataset();
    REQUIRE(ov);
    REQUIRE(ov->GetRasterXSize() == reference->GetRasterXSize());
    const std::vector<float> got = readAll(ov), want = readAll(reference.get());
    INFO("factor " << factor);
    CHECK(maxDiff(got, want) < 1e-4f);
  }
  // None of that touched the full-resolution level.
  CHECK(counter(ds.get(), "TILES_COMPUTED") == 0);
  CHECK(counter(ds.get(), "OVERVIEW_TILES_COMPUTED") > 0);
}

TEST_CASE(
    "a level's pixel is the mean of its own block, also at edges the factor does not divide") {
  setupGdal();
  TempDir dir;
  constexpr int W = 101, H = 77;
  const std::string path = dir.file("odd.tif");
  writeRaster(path, W, H, 2, GDT_Float32, pixel);
  // Without and with an EXTENT starting 3 pixels left of and 5 above the
  // raster (partial blocks on those edges too), and ending inside it.
  for (const bool extent : {false, true}) {
    vitfeat::FeatureOptions o;
    if (extent) o.extent = std::array<double, 4>{499970, 5199300, 500900, 5200050};
    const auto full = vitfeat::SourceRaster::open(path, o);
    REQUIRE(full);
    const int xoff = static_cast<int>(std::lround((full->geoTransform()[0] - 500000) / 10));
    const int yoff = static_cast<int>(std::lround((5200000 - full->geoTransform()[3]) / 10));
    for (const int f : {2, 3, 4}) {
      const auto level = full->downsampled(f);
      REQUIRE(level);
      const int w = level->width(), h = level->height();
      std::vector<float> values(2 * static_cast<size_t>(w) * h);
      std::vector<unsigned char> valid(values.size());
      REQUIRE(level->read({0, 0, w, h}, values.data(), valid.data()));
      float worst = 0;
      int checked = 0;
      for (int b = 0; b < 2; ++b)
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            double sum = 0;
            int n = 0;
            for (int sy = y * f + yoff; sy < (y + 1) * f + yoff; ++sy)
              for (int sx = x * f + xoff; sx < (x + 1) * f + xoff; ++sx)
                if (sx >= 0 && sy >= 0 && sx < W && sy < H) {
                  sum += static_cast<float>(pixel(sx, sy, b));
                  ++n;
                }
            const size_t at = (static_cast<size_t>(b) * h + y) * w + x;
            CHECK(static_cast<bool>(valid[at]) == (n > 0));
            if (n == 0) continue;
            worst = std::max(worst, static_cast<float>(std::fabs(values[at] - sum / n)));
            ++checked;
          }
      INFO("factor " << f << (extent ? ", with EXTENT" : ""));
      CHECK(checked > 0);
      CHECK(worst < 1e-3f);
    }
  }
}

TEST_CASE("a zoomed-out read computes only the coarse tiles") {
  const Fixture& f = fixture();
  auto ds = openFeatures(f.source, f.options());
  REQUIRE(ds);
  // The whole raster into a 4x4 buffer: GDAL picks the 1/4 level (one tile).
  std::vector<float> small(4 * 4 * 3);
  int bands[] = {1, 2, 3};
  REQUIRE(ds->RasterIO(GF_Read, 0, 0, 16, 16, small.data(), 4, 4, GDT_Float32, 3, bands, 0, 0, 0,
                       nullptr) == CE_None);
  CHECK(counter(ds.get(), "TILES_COMPUTED") == 0);
  CHECK(counter(ds.get(), "OVERVIEW_TILES_COMPUTED") == 1);
  const std::vector<float> level = readBand(ds->GetRasterBand(1)->GetOverview(1));
  for (int i = 0; i < 16; ++i) CHECK(small[i] == level[i]);
}

TEST_CASE("OVERVIEWS selects the levels or turns them off") {
  const Fixture& f = fixture();
  {
    auto ds = openFeatures(f.source, f.options({{"OVERVIEWS", "NONE"}}));
    REQUIRE(ds);
    CHECK(ds->GetRasterBand(1)->GetOverviewCount() == 0);
  }
  {
    auto ds = openFeatures(f.source, f.options({{"OVERVIEWS", "2,8"}}));
    REQUIRE(ds);
    GDALRasterBand* band = ds->GetRasterBand(1);
    REQUIRE(band->GetOverviewCount() == 2);
    CHECK(band->GetOverview(0)->GetXSize() == 8);
    CHECK(band->GetOverview(1)->GetXSize() == 2);
  }
  for (const char* bad : {"4,2", "1", "2,x", "3.5", "0"})
    checkOpenFails("VITFEAT:" + f.source, f.options({{"OVERVIEWS", bad}}),
                   std::string("invalid OVERVIEWS=") + bad);
}

namespace {

struct ProgressLog {
  std::vector<double> values;
  int cancelAfter = -1;  // calls allowed before cancelling; -1 never
};

int CPL_STDCALL logProgress(double done, const char*, void* data) {
  auto* log = static_cast<ProgressLog*>(data);
  log->values.push_back(done);
  return log->cancelAfter < 0 || static_cast<int>(log->values.size()) <= log->cancelAfter;
}

}  // namespace

TEST_CASE("a dataset read reports progress and can be cancelled") {
  const Fixture& f = fixture();
  auto ds = openFeatures(f.source, f.options({{"BATCH_SIZE", "2"}, {"OVERVIEWS", "NONE"}}));
  REQUIRE(ds);
  std::vector<float> out(16 * 16 * 32);
  GDALRasterIOExtraArg extra;
  INIT_RASTERIO_EXTRA_ARG(extra);
  ProgressLog log;
  extra.pfnProgress = logProgress;
  extra.pProgressData = &log;
  REQUIRE(ds->RasterIO(GF_Read, 0, 0, 16, 16, out.data(), 16, 16, GDT_Float32, 32, nullptr, 0, 0, 0,
                       &extra) == CE_None);
  REQUIRE(log.values.size() >= 8);  // 16 tiles in batches of 2, and the end
  for (size_t i = 1; i < log.values.size(); ++i) CHECK(log.values[i] >= log.values[i - 1]);
  CHECK(log.values.back() == 1.0);

  auto fresh = openFeatures(
      f.source, f.options({{"BATCH_SIZE", "2"}, {"OVERVIEWS", "NONE"}, {"CACHE_MB", "0"}}));
  REQUIRE(fresh);
  ProgressLog cancel;
  cancel.cancelAfter = 1;
  extra.pProgressData = &cancel;
  CPLPushErrorHandler(CPLQuietErrorHandler);
  CPLErrorReset();
  const CPLErr err = fresh->RasterIO(GF_Read, 0, 0, 16, 16, out.data(), 16, 16, GDT_Float32, 32,
                                     nullptr, 0, 0, 0, &extra);
  const int errNo = CPLGetLastErrorNo();
  CPLPopErrorHandler();
  CHECK(err == CE_Failure);
  CHECK(errNo == CPLE_UserInterrupt);
  // Cancelled after the second batch: 4 of 16 tiles were run.
  CHECK(counter(fresh.get(), "TILES_COMPUTED") == 4);
}

TEST_CASE("statistics and gdaladdo overviews persist beside a descriptor") {
  const Fixture& f = fixture();
  const std::string descriptor = f.dir.file("pam.vitfeat");
  {
    auto ds = openFeatures(f.source, f.options());
    REQUIRE(ds);
    GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("VITFEAT");
    REQUIRE(driver);
    DatasetPtr copy(
        driver->CreateCopy(descriptor.c_str(), ds.get(), FALSE, nullptr, nullptr, nullptr));
    REQUIRE(copy);
  }
  double mean = 0;
  {
    auto ds = openDataset(descriptor);
    REQUIRE(ds);
    double mn, mx, sd;
    REQUIRE(ds->GetRasterBand(1)->ComputeStatistics(FALSE, &mn, &mx, &mean, &sd, nullptr,
                                                    nullptr) == CE_None);
  }
  VSIStatBufL st;
  REQUIRE(VSIStatL((descriptor + ".aux.xml").c_str(), &st) == 0);
  {
    auto ds = openDataset(descriptor);
    REQUIRE(ds);
    const char* stored = ds->GetRasterBand(1)->GetMetadataItem("STATISTICS_MEAN");
    REQUIRE(stored);
    CHECK(std::strtod(stored, nullptr) == Approx(mean).epsilon(1e-12));
    CHECK(counter(ds.get(), "TILES_COMPUTED") == 0);  // nothing recomputed to know them
    CHECK(counter(ds.get(), "OVERVIEW_TILES_COMPUTED") == 0);
  }
  {
    // gdaladdo without -ro opens for update: only PAM and .ovr are written.
    DatasetPtr ds(GDALDataset::Open(descriptor.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
    REQUIRE(ds);
    int level = 2;
    REQUIRE(ds->BuildOverviews("AVERAGE", 1, &level, 0, nullptr, nullptr, nullptr) == CE_None);
  }
  REQUIRE(VSIStatL((descriptor + ".ovr").c_str(), &st) == 0);
  auto ds = openDataset(descriptor);
  REQUIRE(ds);
  GDALRasterBand* band = ds->GetRasterBand(1);
  REQUIRE(band->GetOverviewCount() == 1);  // the user's level replaces the computed ones
  CHECK(band->GetOverview(0)->GetXSize() == 8);
  // Averages of full-resolution features, as gdaladdo computes them.
  const std::vector<float> full = readBand(band), ovr = readBand(band->GetOverview(0));
  double want = 0;
  for (int dy = 0; dy < 2; ++dy)
    for (int dx = 0; dx < 2; ++dx) want += full[static_cast<size_t>(2 + dy) * 16 + 4 + dx] / 4;
  CHECK(ovr[1 * 8 + 2] == Approx(want).margin(1e-5));
  const CPLStringList files(ds->GetFileList());
  CHECK(files.FindString((descriptor + ".ovr").c_str()) >= 0);
  CHECK(files.FindString((descriptor + ".aux.xml").c_str()) >= 0);
}

TEST_CASE("a view's overview applies the same fit to the feature overview") {
  const Fixture& f = fixture();
  std::map<std::string, std::string> options = f.options();
  options["N_COMPONENTS"] = "2";
  auto pca = openDataset("VITPCA:VITFEAT:" + f.source, options);
  REQUIRE(pca);
  GDALRasterBand* band = pca->GetRasterBand(1);
  REQUIRE(band->GetOverviewCount() == 2);
  GDALRasterBand* ovBand = band->GetOverview(0);
  CHECK(ovBand->GetXSize() == 8);
  const std::vector<double> mean = metadataNumbers(pca.get(), "MEAN", "VITPCA");
  const std::vector<double> component = metadataNumbers(pca.get(), "COMPONENT_1", "VITPCA");
  REQUIRE(mean.size() == 32);
  REQUIRE(component.size() == 32);

  auto features = openFeatures(f.source, f.options());
  REQUIRE(features);
  const std::vector<float> cells =
      readAll(features->GetRasterBand(1)->GetOverview(0)->GetDataset());
  const std::vector<float> got = readBand(ovBand);
  REQUIRE(got.size() == 64);
  for (size_t i = 0; i < got.size(); ++i) {
    double want = 0;
    for (int d = 0; d < 32; ++d) want += (cells[d * 64 + i] - mean[d]) * component[d];
    CHECK(got[i] == Approx(want).margin(1e-4));
  }
}
