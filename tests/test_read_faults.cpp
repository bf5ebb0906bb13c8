// An input read error (issue 9, "Faults"): a GeoTIFF with one damaged
// compressed block fails the reads that need it, with an error naming the
// file, and only those. Every other block reads, before and after, and equals
// the features of an undamaged copy: no tile computed from a failed read is
// kept, in memory or on disk.
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal_priv.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"

using namespace vitfeat::test;

namespace {

constexpr int kSize = 256;  // input pixels a side
constexpr int kTile = 64;   // model input = TILE_SIZE = STRIDE: one tile per 4 x 4-cell block
constexpr int kBlock = 4;   // feature cells per block side
constexpr int kBlocks = kSize / kTile;

CPLErr readBlock(GDALDataset* ds, int bx, int by, std::vector<float>& out) {
  const int bands = ds->GetRasterCount();
  out.assign(static_cast<size_t>(bands) * kBlock * kBlock, 0.0f);
  return ds->RasterIO(GF_Read, bx * kBlock, by * kBlock, kBlock, kBlock, out.data(), kBlock, kBlock,
                      GDT_Float32, bands, nullptr, 0, 0, 0, nullptr);
}

}  // namespace

TEST_CASE("an input read error fails only the reads that need it, and nothing wrong is kept") {
  setupGdal();
  TempDir dir;
  const std::string model = writeTinyModel(dir.file("vit"), kTile, 1, 32, 3);
  const std::string good = dir.file("good.tif"), damaged = dir.file("damaged.tif");
  for (const std::string& path : {good, damaged})
    writeRaster(path, kSize, kSize, 3, GDT_Byte,
                [](int x, int y, int b) { return (x * 5 + y * 3 + b * 60) % 251; },
                {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE"});
  // TIFF block (5, 5), pixels 80..95: inside feature block (1, 1).
  damageTiffBlock(damaged, 5, 5);
  const std::string cacheDir = dir.file("tiles");
  // NORMALIZE=model: the open reads no pixels, so the error comes at read time.
  const std::map<std::string, std::string> options{
      {"MODEL", model},       {"STRIDE", std::to_string(kTile)},
      {"NORMALIZE", "model"}, {"BATCH_SIZE", "8"},
      {"OVERVIEWS", "NONE"},  {"CACHE_DIR", cacheDir}};
  std::map<std::string, std::string> reference = options;
  reference.erase("CACHE_DIR");
  reference["CACHE_MB"] = "0";
  auto ref = openFeatures(good, reference);
  REQUIRE(ref);
  REQUIRE(ref->GetRasterXSize() == kBlocks * kBlock);
  int blockX = 0, blockY = 0;
  ref->GetRasterBand(1)->GetBlockSize(&blockX, &blockY);
  REQUIRE(blockX == kBlock);
  REQUIRE(blockY == kBlock);

  auto checkFailsAt11 = [&](GDALDataset* ds) {
    std::vector<float> values;
    const ExpectErrors errors;
    CHECK(readBlock(ds, 1, 1, values) == CE_Failure);
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains(damaged));
  };
  // Every block but (1, 1) reads, and equals the undamaged copy's features.
  auto checkOthers = [&](GDALDataset* ds) {
    int wrong = 0, failed = 0;
    for (int by = 0; by < kBlocks; ++by)
      for (int bx = 0; bx < kBlocks; ++bx) {
        if (bx == 1 && by == 1) continue;
        std::vector<float> got, want;
        if (readBlock(ds, bx, by, got) != CE_None) {
          ++failed;
          continue;
        }
        REQUIRE(readBlock(ref.get(), bx, by, want) == CE_None);
        for (size_t i = 0; i < got.size(); ++i)
          if (!(std::abs(got[i] - want[i]) <= 1e-5f)) ++wrong;
      }
    CHECK(failed == 0);
    CHECK(wrong == 0);
  };

  SECTION("a read of the damaged block alone, then of the others") {
    auto ds = openFeatures(damaged, options);
    REQUIRE(ds);
    checkFailsAt11(ds.get());
    checkOthers(ds.get());
    checkFailsAt11(ds.get());  // failed again: nothing was kept for it
  }
  SECTION("a whole read fails; its other tiles are not kept wrong") {
    {
      auto ds = openFeatures(damaged, options);
      REQUIRE(ds);
      std::vector<float> all(static_cast<size_t>(ds->GetRasterCount()) * ds->GetRasterXSize() *
                             ds->GetRasterYSize());
      const ExpectErrors errors;
      CHECK(ds->RasterIO(GF_Read, 0, 0, ds->GetRasterXSize(), ds->GetRasterYSize(), all.data(),
                         ds->GetRasterXSize(), ds->GetRasterYSize(), GDT_Float32,
                         ds->GetRasterCount(), nullptr, 0, 0, 0, nullptr) == CE_Failure);
      CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains(damaged));
      checkOthers(ds.get());
    }
    // A new process would read the persistent cache: CACHE_MB=0 reads it alone.
    std::map<std::string, std::string> fromDisk = options;
    fromDisk["CACHE_MB"] = "0";
    auto ds = openFeatures(damaged, fromDisk);
    REQUIRE(ds);
    checkOthers(ds.get());
    checkFailsAt11(ds.get());
  }
}
