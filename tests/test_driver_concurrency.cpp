// Several dataset handles on one dataset, each read from its own thread (as
// QGIS renders): they share the model and the tile cache, model calls do not
// run at once on the CPU, a tile one handle computed is not computed again by
// another, and every handle returns the same values as a lone read.
#include <gdal_priv.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

TEST_CASE("handles on several threads share tiles and agree with a lone read") {
  setupGdal();
  TempDir dir;
  const std::string model = writeTinyModel(dir.file("vit"), 64, 2, 32, 9);
  const std::string source = dir.file("source.tif");
  writeRaster(source, 320, 256, 3, GDT_Byte,
              [](int x, int y, int b) { return (x * 5 + y * 3 + b * 70 + (x / 40) * 30) % 256; });
  // A private cache size: the tiles of this test are keyed by its own source.
  const std::map<std::string, std::string> options{
      {"MODEL", model}, {"STRIDE", "32"}, {"OVERVIEWS", "NONE"}, {"BATCH_SIZE", "2"}};

  std::vector<float> lone;
  unsigned long long tiles = 0;
  {
    auto ds = openFeatures(
        source, {{"MODEL", model}, {"STRIDE", "32"}, {"OVERVIEWS", "NONE"}, {"CACHE_MB", "0"}});
    REQUIRE(ds);
    lone = readAll(ds.get());
    tiles = std::strtoull(ds->GetMetadataItem("TILES_COMPUTED", "VITFEAT"), nullptr, 10);
    REQUIRE(tiles == 9 * 7);
  }

  constexpr int kThreads = 4;
  std::vector<DatasetPtr> handles;
  for (int t = 0; t < kThreads; ++t) {
    handles.push_back(openFeatures(source, options));
    REQUIRE(handles.back());
  }
  std::vector<std::vector<float>> results(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      GDALDataset* ds = handles[t].get();
      const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize(), d = ds->GetRasterCount();
      // Block by block in a different order per thread, then the whole raster.
      int bw = 0, bh = 0;
      ds->GetRasterBand(1)->GetBlockSize(&bw, &bh);
      std::vector<float> block(static_cast<size_t>(bw) * bh * d);
      const int bx = (w + bw - 1) / bw, by = (h + bh - 1) / bh;
      for (int k = 0; k < bx * by; ++k) {
        const int index = (k * (t + 1) * 7) % (bx * by);
        const int x = index % bx * bw, y = index / bx * bh;
        const int cw = std::min(bw, w - x), ch = std::min(bh, h - y);
        if (ds->RasterIO(GF_Read, x, y, cw, ch, block.data(), cw, ch, GDT_Float32, d, nullptr, 0, 0,
                         0, nullptr) != CE_None)
          ++failures;
      }
      results[t].resize(static_cast<size_t>(w) * h * d);
      if (ds->RasterIO(GF_Read, 0, 0, w, h, results[t].data(), w, h, GDT_Float32, d, nullptr, 0, 0,
                       0, nullptr) != CE_None)
        ++failures;
    });
  for (std::thread& th : threads) th.join();
  REQUIRE(failures == 0);
  unsigned long long computed = 0;
  for (int t = 0; t < kThreads; ++t) {
    computed +=
        std::strtoull(handles[t]->GetMetadataItem("TILES_COMPUTED", "VITFEAT"), nullptr, 10);
    INFO("thread " << t);
    // Equal up to float rounding: a tile's values depend in the last bits on
    // which tiles shared its batch.
    REQUIRE(results[t].size() == lone.size());
    float worst = 0;
    bool sameNoData = true;
    for (size_t i = 0; i < lone.size(); ++i) {
      if (std::isnan(lone[i]) != std::isnan(results[t][i])) sameNoData = false;
      if (!std::isnan(lone[i])) worst = std::max(worst, std::fabs(lone[i] - results[t][i]));
    }
    CHECK(sameNoData);
    CHECK(worst < 1e-5f);
  }
  // Every tile computed once over all handles (the cache holds them all).
  CHECK(computed == tiles);
}

TEST_CASE("the pipelined read (VITFEAT_PIPELINE=YES) gives the same features as the plain one") {
  setupGdal();
  TempDir dir;
  const std::string model = writeTinyModel(dir.file("vit"), 64, 1, 32, 4);
  const std::string source = dir.file("source.tif");
  writeRaster(source, 300, 200, 3, GDT_Byte, [](int x, int y, int b) { return (x * y + b) % 251; });
  const std::map<std::string, std::string> options{{"MODEL", model},
                                                   {"STRIDE", "32"},
                                                   {"OVERVIEWS", "NONE"},
                                                   {"BATCH_SIZE", "3"},
                                                   {"CACHE_MB", "0"}};
  std::vector<float> plain, pipelined;
  for (const char* mode : {"NO", "YES"}) {
    CPLSetConfigOption("VITFEAT_PIPELINE", mode);
    auto ds = openFeatures(source, options);
    REQUIRE(ds);
    (EQUAL(mode, "YES") ? pipelined : plain) = readAll(ds.get());
    // Every tile of the grid (TILES = columns x rows) run once.
    int columns = 0, rows = 0;
    REQUIRE(std::sscanf(ds->GetMetadataItem("TILES", "VITFEAT"), "%dx%d", &columns, &rows) == 2);
    CHECK(std::strtoull(ds->GetMetadataItem("TILES_COMPUTED", "VITFEAT"), nullptr, 10) ==
          static_cast<unsigned long long>(columns * rows));
  }
  CPLSetConfigOption("VITFEAT_PIPELINE", nullptr);
  // Same batches in the same order: the same bits.
  CHECK(sameValues(plain, pipelined));
}
