// Several dataset handles on one dataset, each read from its own thread (as
// QGIS renders): they share the model and the tile cache, a tile one handle
// computed or is computing is not computed again by another, whether model
// calls take turns (the CPU default) or run at once (CUDA, VITFEAT_CPU_LOCK=NO),
// and every handle returns the same values as a lone read.
#include <gdal_priv.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
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
  // PROCESS: CPU model calls take turns; NO: they run at once, as on CUDA, and
  // only the in-flight claims keep a tile from being computed twice.
  const char* lock = GENERATE("PROCESS", "NO");
  INFO("VITFEAT_CPU_LOCK=" << lock);
  ScopedConfig lockMode("VITFEAT_CPU_LOCK", lock);
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

namespace {

// Holds every thread until all have arrived (C++17 has no std::barrier), so
// that their reads overlap instead of running one after the other.
class StartLine {
 public:
  explicit StartLine(int count) : left_(count) {}
  void arriveAndWait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (--left_ == 0) {
      open_.notify_all();
      return;
    }
    open_.wait(lock, [this] { return left_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable open_;
  int left_;
};

}  // namespace

// What QGIS does: every render thread opens its own handle on the same
// dataset, reads blocks, and closes it, all at the same time. The handles meet
// only in the shared engine parts (encoder, process tile cache, inference
// lock) and in GDAL's block cache.
TEST_CASE("threads each open their own handle on one dataset and read blocks at once") {
  setupGdal();
  // PROCESS: CPU model calls take turns; NO: they run at once, as on CUDA, and
  // only the in-flight claims keep a tile from being computed twice.
  const char* lock = GENERATE("PROCESS", "NO");
  INFO("VITFEAT_CPU_LOCK=" << lock);
  ScopedConfig lockMode("VITFEAT_CPU_LOCK", lock);
  TempDir dir;
  const std::string model = writeTinyModel(dir.file("vit"), 64, 2, 32, 5);
  const std::string source = dir.file("source.tif");
  writeRaster(source, 320, 256, 3, GDT_Byte,
              [](int x, int y, int b) { return (x * 7 + y * 11 + b * 50 + (y / 48) * 20) % 256; });
  const std::string name = "VITFEAT:" + source;
  CPLStringList openOptions;
  openOptions.SetNameValue("MODEL", model.c_str());
  openOptions.SetNameValue("STRIDE", "32");
  openOptions.SetNameValue("OVERVIEWS", "NONE");
  openOptions.SetNameValue("BATCH_SIZE", "2");

  // The reference: one handle, no shared cache, read alone.
  std::vector<float> lone;
  int width = 0, height = 0, depth = 0, blockWidth = 0, blockHeight = 0;
  unsigned long long tiles = 0;
  {
    auto ds = openFeatures(
        source, {{"MODEL", model}, {"STRIDE", "32"}, {"OVERVIEWS", "NONE"}, {"CACHE_MB", "0"}});
    REQUIRE(ds);
    lone = readAll(ds.get());
    width = ds->GetRasterXSize();
    height = ds->GetRasterYSize();
    depth = ds->GetRasterCount();
    ds->GetRasterBand(1)->GetBlockSize(&blockWidth, &blockHeight);
    tiles = std::strtoull(ds->GetMetadataItem("TILES_COMPUTED", "VITFEAT"), nullptr, 10);
    REQUIRE(tiles == 9 * 7);
  }

  constexpr int kThreads = 4;
  StartLine start(kThreads);
  std::atomic<int> failures{0}, mismatches{0}, blocksRead{0};
  std::atomic<unsigned long long> computed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      // Opened on this thread, as a render thread would: the driver is
      // registered already, so this is GDAL's plain open path.
      DatasetPtr ds(GDALDataset::Open(name.c_str(), GDAL_OF_RASTER, nullptr, openOptions.List()));
      start.arriveAndWait();  // every thread opened before any reads
      if (!ds || ds->GetRasterXSize() != width || ds->GetRasterYSize() != height ||
          ds->GetRasterCount() != depth) {
        ++failures;
        return;
      }
      int bw = 0, bh = 0;
      ds->GetRasterBand(1)->GetBlockSize(&bw, &bh);
      const int bx = (width + bw - 1) / bw, by = (height + bh - 1) / bh;
      std::vector<float> block(static_cast<size_t>(bw) * bh * depth);
      const size_t plane = static_cast<size_t>(width) * height;
      for (int k = 0; k < bx * by; ++k) {
        // A different block order per thread, so that threads meet on tiles
        // now computed by one, now by another.
        const int index = (k * (2 * t + 1) + t * 5) % (bx * by);
        const int x = index % bx, y = index / bx;
        int cw = 0, ch = 0;
        ds->GetRasterBand(1)->GetActualBlockSize(x, y, &cw, &ch);
        // Even threads read band blocks one band at a time (IReadBlock, which
        // fills the sibling bands' blocks in GDAL's block cache), odd threads
        // every band of the block in one dataset read.
        bool ok = true;
        if (t % 2 == 0) {
          for (int b = 1; b <= depth && ok; ++b)
            ok = ds->GetRasterBand(b)->ReadBlock(x, y, block.data() + (b - 1) * bw * bh) == CE_None;
        } else {
          ok = ds->RasterIO(GF_Read, x * bw, y * bh, cw, ch, block.data(), cw, ch, GDT_Float32,
                            depth, nullptr, sizeof(float), sizeof(float) * bw,
                            sizeof(float) * bw * bh, nullptr) == CE_None;
        }
        if (!ok) {
          ++failures;
          continue;
        }
        ++blocksRead;
        for (int b = 0; b < depth; ++b)
          for (int row = 0; row < ch; ++row)
            for (int col = 0; col < cw; ++col) {
              const float want =
                  lone[b * plane + static_cast<size_t>(y * bh + row) * width + x * bw + col];
              const float got = block[(static_cast<size_t>(b) * bh + row) * bw + col];
              // Up to float rounding: a tile's values depend in the last bits
              // on which tiles shared its batch.
              if (std::isnan(want) != std::isnan(got) ||
                  (!std::isnan(want) && !(std::fabs(want - got) < 1e-5f)))
                ++mismatches;
            }
      }
      computed += std::strtoull(ds->GetMetadataItem("TILES_COMPUTED", "VITFEAT"), nullptr, 10);
      ds.reset();  // closed on its own thread, while others may still read
    });
  for (std::thread& th : threads) th.join();
  REQUIRE(failures == 0);
  CHECK(mismatches == 0);
  CHECK(blocksRead == kThreads * ((width + blockWidth - 1) / blockWidth) *
                          ((height + blockHeight - 1) / blockHeight));
  // The process tile cache holds every tile: each computed once over all handles.
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
