// The VITFEAT driver end to end, through GDAL's public API only: every BLEND
// mode on rasters whose features are known in closed form.
//
// The model is a TorchScript module that reports where its tile is: with a
// source whose band 1 is the pixel's x and band 2 its y (NORMALIZE=none), the
// input's top-left pixel is the tile origin, and the top-left pixel of each
// 16 px patch is the cell's own origin. So every tile yields, per cell,
//   f0 = tile origin x, f1 = tile origin y   (differs between tiles)
//   f2 = cell origin x, f3 = cell origin y   (same in every covering tile)
// and the blended value of each cell follows from the tile origins alone.
// The origins are written out by hand from the tiling rule, never taken from
// TileGrid, so the test checks the driver against the specification.
#include <cpl_string.h>
#include <gdal.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "driver/register.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"

using vitfeat::test::Dataset;
using vitfeat::test::setupGdal;

namespace {

using vitfeat::test::TempDir;

constexpr double kPi = 3.14159265358979323846;
constexpr int kInput = 64;  // model input size (sidecar), also TILE_SIZE here
constexpr int kPatch = 16;
constexpr int kG = kInput / kPatch;  // cells per tile side
constexpr int kCell = kInput / kG;   // input pixels per cell with TILE_SIZE = kInput
constexpr int kFeatures = 4;
constexpr float kNoData = -9999.0f;

const std::vector<std::string> kModes = {"first", "last",  "average", "min",    "max",
                                         "sum",   "count", "center",  "linear", "cosine"};

// The position-reporting TorchScript model and its JSON sidecar.
std::string writePositionModel(const TempDir& dir) {
  const std::string path = dir.file("position.pt");
  torch::jit::Module m("m");
  m.define(R"(
def forward(self, x):
    cells = x[:, :, ::16, ::16]
    origin = x[:, :, 0:1, 0:1].expand_as(cells)
    return torch.cat([origin, cells], 1)
)");
  m.save(path);
  std::ofstream(path + ".json") << R"({"input_size": 64, "patch_size": 16, "in_chans": 2})";
  return path;
}

// A region of source pixels set to nodata (half-open, in pixels).
struct PixelBox {
  int x0, y0, x1, y1;
  bool contains(int x, int y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
};

// Float32 GTiff, band 1 = x, band 2 = y; pixels inside `holes` are nodata.
std::string writeCoordinateRaster(const TempDir& dir, int width, int height,
                                  const std::vector<PixelBox>& holes = {}) {
  const std::string path = dir.file("coords.tif");
  GDALDriverH gtiff = GDALGetDriverByName("GTiff");
  REQUIRE(gtiff);
  Dataset ds(GDALCreate(gtiff, path.c_str(), width, height, 2, GDT_Float32, nullptr));
  REQUIRE(ds);
  double gt[6] = {500000, 10, 0, 5200000, 0, -10};
  GDALSetGeoTransform(ds.get(), gt);
  std::vector<float> values(static_cast<size_t>(width) * height);
  for (int b = 0; b < 2; ++b) {
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        bool hole = false;
        for (const PixelBox& h : holes) hole = hole || h.contains(x, y);
        values[static_cast<size_t>(y) * width + x] =
            hole ? kNoData : static_cast<float>(b == 0 ? x : y);
      }
    GDALRasterBandH band = GDALGetRasterBand(ds.get(), b + 1);
    if (!holes.empty()) GDALSetRasterNoDataValue(band, kNoData);
    REQUIRE(GDALRasterIO(band, GF_Write, 0, 0, width, height, values.data(), width, height,
                         GDT_Float32, 0, 0) == CE_None);
  }
  return path;
}

Dataset openFeatures(const std::string& source, const std::string& model,
                     const std::map<std::string, std::string>& extra) {
  setupGdal();
  CPLStringList oo;
  oo.SetNameValue("MODEL", model.c_str());
  oo.SetNameValue("NORMALIZE", "none");
  for (const auto& [k, v] : extra) oo.SetNameValue(k.c_str(), v.c_str());
  const std::string name = "VITFEAT:" + source;
  return Dataset(GDALOpenEx(name.c_str(), GDAL_OF_RASTER, nullptr, oo.List(), nullptr));
}

// Band-sequential [band][y][x] float32 read of a window of every band in one call.
std::vector<float> readWindow(GDALDatasetH ds, int x0, int y0, int w, int h) {
  const int bands = GDALGetRasterCount(ds);
  std::vector<float> out(static_cast<size_t>(bands) * w * h);
  REQUIRE(GDALDatasetRasterIO(ds, GF_Read, x0, y0, w, h, out.data(), w, h, GDT_Float32, bands,
                              nullptr, 0, 0, 0) == CE_None);
  return out;
}

std::vector<float> readAll(GDALDatasetH ds) {
  return readWindow(ds, 0, 0, GDALGetRasterXSize(ds), GDALGetRasterYSize(ds));
}

// The tiling of one test raster as the specification defines it.
struct Layout {
  int cellsX, cellsY;         // ceil(W / c), ceil(H / c)
  std::vector<int> originsX;  // tile origins in pixels, as written by hand
  std::vector<int> originsY;
  int cell = kCell;
};

double axisWeight(const std::string& mode, int j) {
  const double u = (j + 0.5) / kG;
  if (mode == "linear") return 1.0 - std::abs(2.0 * u - 1.0);
  if (mode == "cosine") return std::sin(kPi * u) * std::sin(kPi * u);
  return 1.0;
}

// Expected band-sequential output of `mode`, from the definitions of the
// issue: tiles in row-major order, each giving {ox, oy, cx * c, cy * c}.
std::vector<float> expectedFeatures(const std::string& mode, const Layout& l) {
  const size_t plane = static_cast<size_t>(l.cellsX) * l.cellsY;
  std::vector<float> out(kFeatures * plane, std::numeric_limits<float>::quiet_NaN());
  const int tilesX = static_cast<int>(l.originsX.size());
  for (int cy = 0; cy < l.cellsY; ++cy)
    for (int cx = 0; cx < l.cellsX; ++cx) {
      int n = 0;
      double sum[kFeatures] = {}, wsum[kFeatures] = {}, wtotal = 0;
      double lo[kFeatures], hi[kFeatures], firstV[kFeatures], lastV[kFeatures], centerV[kFeatures];
      double best = std::numeric_limits<double>::infinity();
      for (size_t iy = 0; iy < l.originsY.size(); ++iy)
        for (int ix = 0; ix < tilesX; ++ix) {  // ascending row-major order
          const int tx = l.originsX[ix] / l.cell, ty = l.originsY[iy] / l.cell;
          const int j = cx - tx, i = cy - ty;
          if (j < 0 || j >= kG || i < 0 || i >= kG) continue;
          const double v[kFeatures] = {double(l.originsX[ix]), double(l.originsY[iy]),
                                       double(cx * l.cell), double(cy * l.cell)};
          const double w = axisWeight(mode, j) * axisWeight(mode, i);
          // Squared distance between the cell centre and the tile centre, in cells.
          const double dx = (cx + 0.5) - (tx + kG / 2.0), dy = (cy + 0.5) - (ty + kG / 2.0);
          const double dist = dx * dx + dy * dy;
          const bool nearer = dist < best;  // strict: ties keep the lower order
          if (nearer) best = dist;
          for (int d = 0; d < kFeatures; ++d) {
            if (n == 0) lo[d] = hi[d] = firstV[d] = v[d];
            lo[d] = std::min(lo[d], v[d]);
            hi[d] = std::max(hi[d], v[d]);
            lastV[d] = v[d];
            if (nearer) centerV[d] = v[d];
            sum[d] += v[d];
            wsum[d] += w * v[d];
          }
          wtotal += w;
          ++n;
        }
      if (n == 0) continue;
      for (int d = 0; d < kFeatures; ++d) {
        double e = 0;
        if (mode == "first")
          e = firstV[d];
        else if (mode == "last")
          e = lastV[d];
        else if (mode == "average")
          e = sum[d] / n;
        else if (mode == "min")
          e = lo[d];
        else if (mode == "max")
          e = hi[d];
        else if (mode == "sum")
          e = sum[d];
        else if (mode == "count")
          e = n;
        else if (mode == "center")
          e = centerV[d];
        else
          e = wsum[d] / wtotal;  // linear, cosine
        out[d * plane + static_cast<size_t>(cy) * l.cellsX + cx] = static_cast<float>(e);
      }
    }
  return out;
}

// Relative tolerance: sums reach several hundred, where float32 spacing is ~6e-5.
bool close(float actual, float expected) {
  if (std::isnan(expected)) return std::isnan(actual);
  return std::abs(double(actual) - expected) <= 1e-5 * std::max(1.0, std::abs(double(expected)));
}

void requireMatches(const std::vector<float>& actual, const std::vector<float>& expected,
                    const Layout& l, const std::string& what) {
  REQUIRE(actual.size() == expected.size());
  const size_t plane = static_cast<size_t>(l.cellsX) * l.cellsY;
  int mismatches = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (close(actual[i], expected[i])) continue;
    if (++mismatches <= 5) {
      const size_t cell = i % plane;
      FAIL_CHECK(what << ": feature " << i / plane << " cell (" << cell % l.cellsX << ", "
                      << cell / l.cellsX << ") = " << actual[i] << ", expected " << expected[i]);
    }
  }
  CHECK(mismatches == 0);
}

// Bitwise equality with NaN == NaN: every way of reading must give the same numbers.
bool sameValues(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

float valueAt(const std::vector<float>& v, const Layout& l, int d, int cx, int cy) {
  return v[(static_cast<size_t>(d) * l.cellsY + cy) * l.cellsX + cx];
}

// 170 x 120 px, TILE_SIZE 64, STRIDE 32 (c = 16, half overlap): 11 x 8 cells.
// Cell-aligned edges at 176 and 128 px. Along x the regular origins 0..96 end
// inside 176, the next (128) would pass it, so the last tile is shifted to
// 176 - 64 = 112. Along y, 0 and 32 end inside 128 and 64 ends exactly on it.
const Layout kOverlap{11, 8, {0, 32, 64, 96, 112}, {0, 32, 64}};
const std::map<std::string, std::string> kOverlapOptions{{"TILE_SIZE", "64"}, {"STRIDE", "32"}};

}  // namespace

TEST_CASE("driver blend: every mode with half-overlapping tiles matches the closed form") {
  TempDir dir;
  setupGdal();
  const std::string model = writePositionModel(dir);
  const std::string source = writeCoordinateRaster(dir, 170, 120);
  for (const std::string& mode : kModes) {
    INFO("BLEND=" << mode);
    auto options = kOverlapOptions;
    options["BLEND"] = mode;
    Dataset ds = openFeatures(source, model, options);
    REQUIRE(ds);
    REQUIRE(GDALGetRasterXSize(ds.get()) == kOverlap.cellsX);
    REQUIRE(GDALGetRasterYSize(ds.get()) == kOverlap.cellsY);
    REQUIRE(GDALGetRasterCount(ds.get()) == kFeatures);
    requireMatches(readAll(ds.get()), expectedFeatures(mode, kOverlap), kOverlap, mode);
  }
}

TEST_CASE("driver blend: hand-computed cells of the half-overlap layout") {
  // A few cells worked out on paper, so the reference above is checked too.
  // Cell (3, 0): x tiles at 0 px (j = 3) and 32 px (j = 1), y tile 0 only.
  // Cell (7, 4): x tiles at 64 (j = 3), 96 (j = 1), 112 (j = 0); y tiles at
  //   32 (i = 2) and 64 (i = 0). Linear weights per j: .25 .75 .75 .25; cosine
  //   sin^2(pi/8) = 0.1464466, sin^2(3pi/8) = 0.8535534. Weighted means separate per axis.
  struct Spot {
    const char* mode;
    int cx, cy;
    double f0, f1;
  };
  const double c1 = 0.14644660940672624, c3 = 0.85355339059327373;
  const std::vector<Spot> spots = {
      {"first", 3, 0, 0, 0},
      {"last", 3, 0, 32, 0},
      {"average", 3, 0, 16, 0},
      {"sum", 3, 0, 32, 0},
      {"count", 3, 0, 2, 2},
      {"center", 3, 0, 32, 0},  // centres at 2 and 4 cells, cell centre 3.5
      {"linear", 3, 0, 24, 0},  // (0 * .25 + 32 * .75) / 1
      {"cosine", 3, 0, 32 * c3 / (c1 + c3), 0},
      {"first", 7, 4, 64, 32},
      {"last", 7, 4, 112, 64},
      {"average", 7, 4, (64 + 96 + 112) / 3.0, 48},
      {"min", 7, 4, 64, 32},
      {"max", 7, 4, 112, 64},
      {"sum", 7, 4, 2 * (64 + 96 + 112), 3 * (32 + 64)},
      {"count", 7, 4, 6, 6},
      {"center", 7, 4, 96, 32},  // centres x 6, 8, 9 / y 4, 6; cell centre (7.5, 4.5)
      {"linear", 7, 4, (64 * .25 + 96 * .75 + 112 * .25) / 1.25, (32 * .75 + 64 * .25) / 1.0},
      {"cosine", 7, 4, (64 * c1 + 96 * c3 + 112 * c1) / (2 * c1 + c3),
       (32 * c3 + 64 * c1) / (c1 + c3)},
      // Cell (8, 0): centre 8.5 is equidistant from the tiles at 96 px (centre 8)
      // and at the shifted 112 px (centre 9): the lower order wins.
      {"center", 8, 0, 96, 0},
      {"average", 10, 7, 112, 64},  // bottom-right: the shifted last tile alone
      {"count", 10, 7, 1, 1},
  };
  TempDir dir;
  setupGdal();
  const std::string model = writePositionModel(dir);
  const std::string source = writeCoordinateRaster(dir, 170, 120);
  for (const Spot& s : spots) {
    INFO("BLEND=" << s.mode << " cell (" << s.cx << ", " << s.cy << ")");
    auto options = kOverlapOptions;
    options["BLEND"] = s.mode;
    Dataset ds = openFeatures(source, model, options);
    REQUIRE(ds);
    const std::vector<float> v = readWindow(ds.get(), s.cx, s.cy, 1, 1);
    CHECK(close(v[0], static_cast<float>(s.f0)));
    CHECK(close(v[1], static_cast<float>(s.f1)));
    // Features 2 and 3 are the same in every covering tile.
    const bool counts = std::string(s.mode) == "count", sums = std::string(s.mode) == "sum";
    const double n = valueAt(expectedFeatures("count", kOverlap), kOverlap, 0, s.cx, s.cy);
    const double scale = counts ? 0 : sums ? n : 1;
    CHECK(close(v[2], static_cast<float>(counts ? n : scale * s.cx * kCell)));
    CHECK(close(v[3], static_cast<float>(counts ? n : scale * s.cy * kCell)));
  }
}

TEST_CASE("driver blend: STRIDE equal to TILE_SIZE with a shifted last tile") {
  // 150 x 100 px, c = 16: 10 x 7 cells, cell-aligned edges 160 and 112 px.
  // x: 0 ends inside 160, 64 ends at 128 (inside), 128 would pass it -> last at
  // 160 - 64 = 96, overlapping the tile at 64. y: 0 ends inside 112, 64 would
  // pass it -> last at 112 - 64 = 48.
  const Layout layout{10, 7, {0, 64, 96}, {0, 48}};
  TempDir dir;
  setupGdal();
  const std::string model = writePositionModel(dir);
  const std::string source = writeCoordinateRaster(dir, 150, 100);
  for (const std::string& mode : kModes) {
    INFO("BLEND=" << mode);
    Dataset ds =
        openFeatures(source, model, {{"TILE_SIZE", "64"}, {"STRIDE", "64"}, {"BLEND", mode}});
    REQUIRE(ds);
    REQUIRE(GDALGetRasterXSize(ds.get()) == layout.cellsX);
    REQUIRE(GDALGetRasterYSize(ds.get()) == layout.cellsY);
    const std::vector<float> v = readAll(ds.get());
    requireMatches(v, expectedFeatures(mode, layout), layout, mode);
    if (mode == "first") {  // cell (7, 3): tiles (64, 0) (96, 0) (64, 48) (96, 48)
      CHECK(valueAt(v, layout, 0, 7, 3) == 64);
      CHECK(valueAt(v, layout, 1, 7, 3) == 0);
    } else if (mode == "last") {
      CHECK(valueAt(v, layout, 0, 7, 3) == 96);
      CHECK(valueAt(v, layout, 1, 7, 3) == 48);
    } else if (mode == "count") {
      CHECK(valueAt(v, layout, 0, 7, 3) == 4);
      CHECK(valueAt(v, layout, 0, 5, 0) == 1);
    }
  }
}

TEST_CASE("driver blend: a raster smaller than one tile is padded and cropped") {
  // 40 x 24 px, c = 16: one tile at (0, 0) reading 64 x 64 px, mostly padding;
  // only ceil(40/16) x ceil(24/16) = 3 x 2 cells are output.
  const Layout layout{3, 2, {0}, {0}};
  TempDir dir;
  setupGdal();
  const std::string model = writePositionModel(dir);
  const std::string source = writeCoordinateRaster(dir, 40, 24);
  for (const std::string& mode : kModes) {
    INFO("BLEND=" << mode);
    Dataset ds =
        openFeatures(source, model, {{"TILE_SIZE", "64"}, {"STRIDE", "32"}, {"BLEND", mode}});
    REQUIRE(ds);
    REQUIRE(GDALGetRasterXSize(ds.get()) == 3);
    REQUIRE(GDALGetRasterYSize(ds.get()) == 2);
    const std::vector<float> v = readAll(ds.get());
    requireMatches(v, expectedFeatures(mode, layout), layout, mode);
    // Partly padded edge cells still have data, so nothing is NaN.
    CHECK(std::none_of(v.begin(), v.end(), [](float x) { return std::isnan(x); }));
  }
  // The padded cells are not part of the dataset: reading them is refused.
  Dataset ds = openFeatures(source, model, {{"TILE_SIZE", "64"}});
  REQUIRE(ds);
  float outside = 0;
  CPLPushErrorHandler(CPLQuietErrorHandler);
  const CPLErr err = GDALRasterIO(GDALGetRasterBand(ds.get(), 1), GF_Read, 3, 0, 1, 1, &outside, 1,
                                  1, GDT_Float32, 0, 0);
  CPLPopErrorHandler();
  CHECK(err == CE_Failure);
}

TEST_CASE("driver blend: whole-raster and block and window and per-band reads agree") {
  TempDir dir;
  setupGdal();
  const std::string model = writePositionModel(dir);
  const std::string source = writeCoordinateRaster(dir, 170, 120);
  for (const std::string mode : {"average", "cosine", "center"}) {
    INFO("BLEND=" << mode);
    auto options = kOverlapOptions;
    options["BLEND"] = mode;
    const int w = kOverlap.cellsX, h = kOverlap.cellsY;
    const size_t plane = static_cast<size_t>(w) * h;

    Dataset whole = openFeatures(source, model, options);
    REQUIRE(whole);
    const std::vector<float> reference = readAll(whole.get());
    requireMatches(reference, expectedFeatures(mode, kOverlap), kOverlap, mode);

    // Band by band through GDAL's block cache (IReadBlock), on a fresh handle.
    {
      Dataset ds = openFeatures(source, model, options);
      REQUIRE(ds);
      std::vector<float> perBand(reference.size());
      for (int b = 1; b <= kFeatures; ++b)
        REQUIRE(GDALRasterIO(GDALGetRasterBand(ds.get(), b), GF_Read, 0, 0, w, h,
                             perBand.data() + (b - 1) * plane, w, h, GDT_Float32, 0, 0) == CE_None);
      CHECK(sameValues(perBand, reference));
    }
    // Block by block, in reverse band order, with explicit ReadBlock calls.
    {
      Dataset ds = openFeatures(source, model, options);
      REQUIRE(ds);
      std::vector<float> blocks(reference.size());
      for (int b = kFeatures; b >= 1; --b) {
        GDALRasterBandH band = GDALGetRasterBand(ds.get(), b);
        int bw = 0, bh = 0;
        GDALGetBlockSize(band, &bw, &bh);
        REQUIRE(bw > 0);
        std::vector<float> block(static_cast<size_t>(bw) * bh);
        for (int by = 0; by * bh < h; ++by)
          for (int bx = 0; bx * bw < w; ++bx) {
            REQUIRE(GDALReadBlock(band, bx, by, block.data()) == CE_None);
            for (int y = by * bh; y < std::min(h, (by + 1) * bh); ++y)
              for (int x = bx * bw; x < std::min(w, (bx + 1) * bw); ++x)
                blocks[(b - 1) * plane + static_cast<size_t>(y) * w + x] =
                    block[static_cast<size_t>(y - by * bh) * bw + (x - bx * bw)];
          }
      }
      CHECK(sameValues(blocks, reference));
    }
    // Small multi-band windows (3 x 3, ragged at the edges) through the dataset.
    {
      Dataset ds = openFeatures(source, model, options);
      REQUIRE(ds);
      std::vector<float> windows(reference.size());
      for (int y0 = 0; y0 < h; y0 += 3)
        for (int x0 = 0; x0 < w; x0 += 3) {
          const int ww = std::min(3, w - x0), wh = std::min(3, h - y0);
          const std::vector<float> v = readWindow(ds.get(), x0, y0, ww, wh);
          for (int d = 0; d < kFeatures; ++d)
            for (int y = 0; y < wh; ++y)
              for (int x = 0; x < ww; ++x)
                windows[d * plane + static_cast<size_t>(y0 + y) * w + x0 + x] =
                    v[(static_cast<size_t>(d) * wh + y) * ww + x];
        }
      CHECK(sameValues(windows, reference));
    }
  }
}

TEST_CASE("driver blend: cells whose footprint is all nodata are NaN and only those") {
  // Holes avoid every tile's top-left pixel (origins are multiples of 32 or
  // 112 on x, of 32 on y) and every cell's top-left pixel outside the fully
  // empty cells, so the closed form holds everywhere else.
  //   hole A: x 16..31, y 16..47 -> cells (1, 1) and (1, 2) have no data at all
  //   hole B: x 49..60, y 40..44 -> part of cell (3, 2), which keeps data
  const std::vector<PixelBox> holes = {{16, 16, 32, 48}, {49, 40, 61, 45}};
  TempDir dir;
  setupGdal();
  const std::string model = writePositionModel(dir);
  const std::string source = writeCoordinateRaster(dir, 170, 120, holes);
  for (const std::string mode : {"average", "first", "count", "linear"}) {
    INFO("BLEND=" << mode);
    auto options = kOverlapOptions;
    options["BLEND"] = mode;
    Dataset ds = openFeatures(source, model, options);
    REQUIRE(ds);
    std::vector<float> expected = expectedFeatures(mode, kOverlap);
    const size_t plane = static_cast<size_t>(kOverlap.cellsX) * kOverlap.cellsY;
    for (const auto& [cx, cy] : {std::pair{1, 1}, std::pair{1, 2}})
      for (int d = 0; d < kFeatures; ++d)
        expected[d * plane + static_cast<size_t>(cy) * kOverlap.cellsX + cx] =
            std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> v = readAll(ds.get());
    requireMatches(v, expected, kOverlap, mode);
    CHECK(std::count_if(v.begin(), v.end(), [](float x) { return std::isnan(x); }) ==
          2 * kFeatures);
    CHECK(!std::isnan(valueAt(v, kOverlap, 0, 3, 2)));
    int ok = 0;
    CHECK(std::isnan(GDALGetRasterNoDataValue(GDALGetRasterBand(ds.get(), 1), &ok)));
    CHECK(ok);
  }
}
