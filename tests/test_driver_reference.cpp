// The VITFEAT driver against independent references: features assembled in
// the test by running the encoder tile by tile and blending by hand, the GDAL
// command-line tools, laziness counters, and the options that change the grid.
#include <cpl_conv.h>
#include <cpl_string.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "models/encoder_factory.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"

using namespace vitfeat;
using namespace vitfeat::test;

namespace {

constexpr int kInput = 64;  // tiny model input: 4 x 4 patches of 16 pixels
constexpr double kMean = 100, kStd = 40;

// A textured 3-band Float32 raster with stored statistics, so NORMALIZE=dataset
// is (v - 100) / 40 exactly as the reference below applies it.
void writeScene(const std::string& path, int w, int h, int bands = 3) {
  writeRaster(path, w, h, bands, GDT_Float32, [](int x, int y, int b) {
    return kMean + 50 * std::sin(x / 7.0 + b) * std::cos(y / 5.0) +
           20 * ((x / 24 + y / 16 + b) % 3);
  });
  DatasetPtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
  for (int b = 1; b <= bands; ++b) {
    ds->GetRasterBand(b)->SetMetadataItem("STATISTICS_MEAN", CPLSPrintf("%g", kMean));
    ds->GetRasterBand(b)->SetMetadataItem("STATISTICS_STDDEV", CPLSPrintf("%g", kStd));
  }
}

// Tile origins along one axis, by the rule of the issue: every `stride` pixels
// from 0, the last tile shifted inward to end on the cell-aligned edge.
std::vector<int> tileOrigins(int lengthPx, int cell, int tile, int stride) {
  const int end = (lengthPx + cell - 1) / cell * cell;
  std::vector<int> o;
  for (int x = 0; x + tile < end; x += stride) o.push_back(x);
  o.push_back(std::max(0, end - tile));
  return o;
}

struct Features {
  int width = 0, height = 0, bands = 0;
  std::vector<float> planes;  // [b][y][x]
  float at(int b, int x, int y) const {
    return planes[(static_cast<size_t>(b) * height + y) * width + x];
  }
};

// Runs the encoder on every tile of the raster and blends by hand: the mean of
// all covering tiles, or the first covering tile in row-major order.
Features reference(const std::string& raster, const std::string& model, int tile, int stride,
                   bool average) {
  DatasetPtr src(GDALDataset::Open(raster.c_str(), GDAL_OF_RASTER));
  const int W = src->GetRasterXSize(), H = src->GetRasterYSize(), C = src->GetRasterCount();
  std::vector<float> pixels(static_cast<size_t>(C) * W * H);
  REQUIRE(src->RasterIO(GF_Read, 0, 0, W, H, pixels.data(), W, H, GDT_Float32, C, nullptr, 0, 0, 0,
                        nullptr) == CE_None);
  EncoderOptions eo;
  eo.device = "cpu";
  eo.in_chans = C;
  const auto enc = openEncoder(model, eo);
  REQUIRE(enc);
  const int g = kInput / enc->info().patch_size, cell = tile / g, D = enc->info().embed_dim;
  Features f;
  f.width = (W + cell - 1) / cell;
  f.height = (H + cell - 1) / cell;
  f.bands = D;
  std::vector<double> sum(static_cast<size_t>(D) * f.width * f.height, 0.0);
  std::vector<int> count(static_cast<size_t>(f.width) * f.height, 0);
  for (const int oy : tileOrigins(H, cell, tile, stride))
    for (const int ox : tileOrigins(W, cell, tile, stride)) {
      // Outside the raster the input is the fill value 0 (the band mean).
      torch::Tensor x = torch::zeros({1, C, tile, tile});
      auto a = x.accessor<float, 4>();
      for (int b = 0; b < C; ++b)
        for (int j = 0; j < tile; ++j)
          for (int i = 0; i < tile; ++i)
            if (ox + i < W && oy + j < H)
              a[0][b][j][i] = static_cast<float>(
                  (pixels[(static_cast<size_t>(b) * H + oy + j) * W + ox + i] - kMean) / kStd);
      const torch::Tensor out = enc->forward(x);
      auto o = out.accessor<float, 4>();
      for (int r = 0; r < g; ++r)
        for (int c = 0; c < g; ++c) {
          const int cx = ox / cell + c, cy = oy / cell + r;
          if (cx >= f.width || cy >= f.height) continue;
          const size_t at = static_cast<size_t>(cy) * f.width + cx;
          if (!average && count[at] > 0) continue;
          for (int d = 0; d < D; ++d) sum[d * count.size() + at] += o[0][r][c][d];
          ++count[at];
        }
    }
  f.planes.resize(sum.size());
  for (size_t i = 0; i < sum.size(); ++i)
    f.planes[i] = static_cast<float>(sum[i] / (average ? count[i % count.size()] : 1));
  return f;
}

Features readFeatures(GDALDataset* ds) {
  Features f;
  f.width = ds->GetRasterXSize();
  f.height = ds->GetRasterYSize();
  f.bands = ds->GetRasterCount();
  f.planes = readAll(ds);
  return f;
}

double maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

uint64_t counter(GDALDataset* ds, const char* name) {
  const char* v = ds->GetMetadataItem(name, "VITFEAT");
  REQUIRE(v);
  return std::strtoull(v, nullptr, 10);
}

std::string shellQuote(const std::string& s) { return "'" + s + "'"; }

}  // namespace

TEST_CASE("driver reference: gdal_translate equals tiles run by hand and averaged", "[driver]") {
  TempDir tmp;
  const std::string raster = tmp.file("scene.tif"), model = writeTinyModel(tmp.file("model"));
  writeScene(raster, 200, 150);  // 13 x 10 cells of 16 px, last tiles shifted inward
  const int tile = 64, stride = 32;
  int rc = 0;
  const std::string log = runCommand(
      "gdal_translate -q -of GTiff " + shellQuote("VITFEAT:" + raster) + " " + tmp.file("out.tif") +
          " -oo MODEL=" + model + " -oo STRIDE=" + std::to_string(stride) + " -oo BLEND=average",
      &rc);
  INFO(log);
  REQUIRE(rc == 0);
  DatasetPtr out(GDALDataset::Open(tmp.file("out.tif").c_str(), GDAL_OF_RASTER));
  REQUIRE(out);
  const Features got = readFeatures(out.get()), want = reference(raster, model, tile, stride, true);
  CHECK(got.width == 13);
  CHECK(got.height == 10);
  CHECK(got.bands == 32);
  const double diff = maxAbsDiff(got.planes, want.planes);
  std::cout << "driver average vs hand-blended reference: max |diff| = " << diff << "\n";
  CHECK(diff < 1e-4);
}

TEST_CASE("driver reference: BLEND first without overlap equals the reference", "[driver]") {
  TempDir tmp;
  const std::string raster = tmp.file("scene.tif"), model = writeTinyModel(tmp.file("model"));
  writeScene(raster, 200, 150);
  const auto ds = openFeatures(raster, {{"MODEL", model}, {"BLEND", "first"}});
  REQUIRE(ds);
  const double diff = maxAbsDiff(readAll(ds.get()), reference(raster, model, 64, 64, false).planes);
  std::cout << "driver first vs reference: max |diff| = " << diff << "\n";
  CHECK(diff < 1e-4);
}

TEST_CASE("driver reference: gdalinfo on a connection string and a descriptor", "[driver][cli]") {
  TempDir tmp;
  const std::string raster = tmp.file("scene.tif"), model = writeTinyModel(tmp.file("model"));
  writeScene(raster, 200, 150);
  const std::string connection = shellQuote("VITFEAT:" + raster);
  const std::string descriptor = tmp.file("features.vitfeat");
  int rc = 0;
  std::string log = runCommand("gdal_translate -q -of VITFEAT " + connection + " " + descriptor +
                                   " -oo MODEL=" + model + " -oo STRIDE=32 -oo BLEND=cosine",
                               &rc);
  INFO(log);
  REQUIRE(rc == 0);
  // Paths inside the descriptor are relative, so the folder can move.
  std::ifstream in(descriptor);
  const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(json, Catch::Contains("\"source\":\"scene.tif\""));
  CHECK_THAT(json, Catch::Contains("\"MODEL\":\"model\""));

  for (const std::string& name :
       {connection + " -oo MODEL=" + model + " -oo STRIDE=32 -oo BLEND=cosine", descriptor}) {
    const std::string info = runCommand("gdalinfo -mdd VITFEAT " + name, &rc);
    INFO(info);
    CHECK(rc == 0);
    CHECK_THAT(info, Catch::Contains("Driver: VITFEAT"));
    CHECK_THAT(info, Catch::Contains("Size is 13, 10"));
    CHECK_THAT(info, Catch::Contains("Origin = (500000.000000000000000,5200000.000000000000000)"));
    CHECK_THAT(info, Catch::Contains("Pixel Size = (160.000000000000000,-160.000000000000000)"));
    CHECK_THAT(info, Catch::Contains("ID[\"EPSG\",32633]"));
    CHECK_THAT(info, Catch::Contains("Band 32 Block="));
    CHECK_THAT(info, !Catch::Contains("Band 33 "));
    CHECK_THAT(info, Catch::Contains("Description = feature_0032"));
    CHECK_THAT(info, Catch::Contains("NoData Value=nan"));
    CHECK_THAT(info, Catch::Contains("STRIDE=32"));
    CHECK_THAT(info, Catch::Contains("BLEND=cosine"));
    CHECK_THAT(info, Catch::Contains("MODEL_SHA256="));
  }

  // The descriptor and the connection string give the same features.
  const auto a = openFeatures(raster, {{"MODEL", model}, {"STRIDE", "32"}, {"BLEND", "cosine"}});
  DatasetPtr b(GDALDataset::Open(descriptor.c_str(), GDAL_OF_RASTER));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(maxAbsDiff(readAll(a.get()), readAll(b.get())) == 0);
}

TEST_CASE("driver reference: a window read equals the same window of the full read", "[driver]") {
  TempDir tmp;
  const std::string raster = tmp.file("scene.tif"), model = writeTinyModel(tmp.file("model"));
  writeScene(raster, 200, 150);
  const std::map<std::string, std::string> options{
      {"MODEL", model}, {"STRIDE", "32"}, {"BLEND", "linear"}};
  const auto full = openFeatures(raster, options);
  REQUIRE(full);
  const Features all = readFeatures(full.get());
  const auto fresh = openFeatures(raster, options);
  const int x0 = 3, y0 = 2, w = 7, h = 5;
  const std::vector<float> window = readWindow(fresh.get(), x0, y0, w, h);
  double diff = 0;
  for (int b = 0; b < all.bands; ++b)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        diff = std::max(
            diff, static_cast<double>(std::fabs(window[(static_cast<size_t>(b) * h + y) * w + x] -
                                                all.at(b, x0 + x, y0 + y))));
  CHECK(diff < 1e-6);
  // And a single band read block by block.
  std::vector<float> band(static_cast<size_t>(all.width) * all.height);
  REQUIRE(fresh->GetRasterBand(7)->RasterIO(GF_Read, 0, 0, all.width, all.height, band.data(),
                                            all.width, all.height, GDT_Float32, 0, 0,
                                            nullptr) == CE_None);
  CHECK(maxAbsDiff(band, std::vector<float>(all.planes.begin() + 6 * band.size(),
                                            all.planes.begin() + 7 * band.size())) < 1e-6);
}

TEST_CASE("driver reference: reading one block computes only the tiles covering it",
          "[driver][lazy]") {
  TempDir tmp;
  const std::string raster = tmp.file("big.tif"), model = writeTinyModel(tmp.file("model"));
  writeScene(raster, 1024, 1024);  // 64 x 64 cells, 31 x 31 tiles at stride 32
  const auto ds = openFeatures(raster, {{"MODEL", model}, {"STRIDE", "32"}});
  REQUIRE(ds);
  int bx = 0, by = 0;
  ds->GetRasterBand(1)->GetBlockSize(&bx, &by);
  REQUIRE(bx == 4);  // a whole number of strides (2 cells) >= the 4 cells of a tile
  CHECK(counter(ds.get(), "TILES_COMPUTED") == 0);

  // Block (5, 5) is cells 20..23: tiles start every 2 cells and span 4, so the
  // tiles starting at cells 18, 20 and 22 on each axis cover it: 9 tiles.
  std::vector<float> block(16);
  REQUIRE(ds->GetRasterBand(1)->ReadBlock(5, 5, block.data()) == CE_None);
  CHECK(counter(ds.get(), "TILES_COMPUTED") == 9);
  CHECK(counter(ds.get(), "TILES_REUSED") == 0);
  // The other bands' blocks were filled at the same time: no new work.
  REQUIRE(ds->GetRasterBand(17)->ReadBlock(5, 5, block.data()) == CE_None);
  CHECK(counter(ds.get(), "TILES_COMPUTED") == 9);
  // The neighbour (6, 5), cells 24..27 across: columns 22, 24, 26; column 22 is cached.
  REQUIRE(ds->GetRasterBand(1)->ReadBlock(6, 5, block.data()) == CE_None);
  CHECK(counter(ds.get(), "TILES_COMPUTED") == 15);
  CHECK(counter(ds.get(), "TILES_REUSED") == 3);
}

TEST_CASE("driver reference: EXTENT restricts the grid and keeps the features", "[driver]") {
  TempDir tmp;
  const std::string raster = tmp.file("scene.tif"), model = writeTinyModel(tmp.file("model"));
  writeScene(raster, 200, 150);
  const auto full = openFeatures(raster, {{"MODEL", model}, {"BLEND", "first"}});
  // Pixels 64..191 x 64..127: the full grid has tiles at 64 and 128 across and
  // 64 down, which the extent's own grid reproduces, so cells must agree.
  const auto part = openFeatures(
      raster, {{"MODEL", model}, {"BLEND", "first"}, {"EXTENT", "500640,5198720,501920,5199360"}});
  REQUIRE(full);
  REQUIRE(part);
  CHECK(part->GetRasterXSize() == 8);
  CHECK(part->GetRasterYSize() == 4);
  double gt[6];
  REQUIRE(part->GetGeoTransform(gt) == CE_None);
  CHECK(gt[0] == Approx(500640));
  CHECK(gt[3] == Approx(5199360));
  CHECK(gt[1] == Approx(160));
  const Features all = readFeatures(full.get()), sub = readFeatures(part.get());
  double diff = 0;
  for (int b = 0; b < sub.bands; ++b)
    for (int y = 0; y < sub.height; ++y)
      for (int x = 0; x < sub.width; ++x)
        diff = std::max(diff,
                        static_cast<double>(std::fabs(sub.at(b, x, y) - all.at(b, x + 4, y + 4))));
  CHECK(diff < 1e-5);

  // The same extent given in geographic coordinates covers at least that area.
  const auto geo = openFeatures(
      raster, {{"MODEL", model}, {"EXTENT", "15,46.9,15.01,46.95"}, {"EXTENT_SRS", "EPSG:4326"}});
  REQUIRE(geo);
  CHECK(geo->GetRasterXSize() >= 1);
}

TEST_CASE("driver reference: BANDS chooses and orders the model's input bands", "[driver]") {
  TempDir tmp;
  const std::string model = writeTinyModel(tmp.file("model"));
  writeScene(tmp.file("rgb.tif"), 100, 80);
  // The same bands stored in reverse order.
  DatasetPtr rgb(GDALDataset::Open(tmp.file("rgb.tif").c_str(), GDAL_OF_RASTER));
  writeRaster(tmp.file("bgr.tif"), 100, 80, 3, GDT_Float32, [&](int x, int y, int b) {
    float v = 0;
    REQUIRE(rgb->GetRasterBand(3 - b)->RasterIO(GF_Read, x, y, 1, 1, &v, 1, 1, GDT_Float32, 0, 0,
                                                nullptr) == CE_None);
    return v;
  });
  {
    DatasetPtr bgr(GDALDataset::Open(tmp.file("bgr.tif").c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
    for (int b = 1; b <= 3; ++b) {
      bgr->GetRasterBand(b)->SetMetadataItem("STATISTICS_MEAN", "100");
      bgr->GetRasterBand(b)->SetMetadataItem("STATISTICS_STDDEV", "40");
    }
  }
  const auto reordered = openFeatures(tmp.file("rgb.tif"), {{"MODEL", model}, {"BANDS", "3,2,1"}});
  const auto stored = openFeatures(tmp.file("bgr.tif"), {{"MODEL", model}});
  const auto plain = openFeatures(tmp.file("rgb.tif"), {{"MODEL", model}});
  REQUIRE(reordered);
  REQUIRE(stored);
  REQUIRE(plain);
  CHECK(std::string(reordered->GetMetadataItem("BANDS", "VITFEAT")) == "3,2,1");
  CHECK(maxAbsDiff(readAll(reordered.get()), readAll(stored.get())) < 1e-6);
  CHECK(maxAbsDiff(readAll(reordered.get()), readAll(plain.get())) > 1e-3);
}

TEST_CASE("driver reference: TARGET_SRS and TARGET_RES warp the input before tiling", "[driver]") {
  TempDir tmp;
  const std::string raster = tmp.file("scene.tif"), model = writeTinyModel(tmp.file("model"));
  writeScene(raster, 200, 150);
  const auto coarse = openFeatures(raster, {{"MODEL", model}, {"TARGET_RES", "20"}});
  REQUIRE(coarse);
  // 100 x 75 pixels of 20 m: 7 x 5 cells of 320 m.
  CHECK(coarse->GetRasterXSize() == 7);
  CHECK(coarse->GetRasterYSize() == 5);
  double gt[6];
  REQUIRE(coarse->GetGeoTransform(gt) == CE_None);
  CHECK(gt[1] == Approx(320));

  const auto geographic = openFeatures(raster, {{"MODEL", model}, {"TARGET_SRS", "EPSG:4326"}});
  REQUIRE(geographic);
  const OGRSpatialReference* srs = geographic->GetSpatialRef();
  REQUIRE(srs);
  CHECK(std::string(srs->GetAuthorityCode(nullptr)) == "4326");
  REQUIRE(geographic->GetGeoTransform(gt) == CE_None);
  CHECK(gt[0] == Approx(15.0).margin(0.01));  // 500000 E in UTM 33N is on 15 deg E
  CHECK(std::fabs(gt[1]) < 0.01);
  const std::vector<float> centre = readWindow(geographic.get(), geographic->GetRasterXSize() / 2,
                                               geographic->GetRasterYSize() / 2, 1, 1);
  CHECK(std::isfinite(centre[0]));
}

TEST_CASE("driver reference: the 11-band Sentinel-2 scene with channel adaptation",
          "[driver][shared]") {
  TempDir tmp;
  // A copy, so that nothing (statistics, .aux.xml) is written beside the shared file.
  const std::string raster = tmp.file("test.tif");
  std::filesystem::copy_file(sharedDir() + "/data/test.tif", raster);
  const std::string model = writeTinyModel(tmp.file("model"), 224);
  const auto ds = openFeatures(raster, {{"MODEL", model}});
  REQUIRE(ds);
  // ceil(968 / 16) x ceil(379 / 16): the partial last column of 8 pixels is a
  // cell of its own (the reference plugin's 60 x 24 drops it).
  CHECK(ds->GetRasterXSize() == 61);
  CHECK(ds->GetRasterYSize() == 24);
  CHECK(std::string(ds->GetMetadataItem("BANDS", "VITFEAT")) == "1,2,3,4,5,6,7,8,9,10,11");
  double gt[6];
  REQUIRE(ds->GetGeoTransform(gt) == CE_None);
  CHECK(gt[0] == Approx(230652.53));
  CHECK(gt[3] == Approx(478955.25));
  CHECK(gt[1] == Approx(160));

  // NaN exactly where a cell's whole footprint is nodata (255 in every band) or outside.
  DatasetPtr src(GDALDataset::Open(raster.c_str(), GDAL_OF_RASTER));
  const int W = src->GetRasterXSize(), H = src->GetRasterYSize();
  std::vector<unsigned char> px(static_cast<size_t>(11) * W * H);
  REQUIRE(src->RasterIO(GF_Read, 0, 0, W, H, px.data(), W, H, GDT_Byte, 11, nullptr, 0, 0, 0,
                        nullptr) == CE_None);
  const Features f = readFeatures(ds.get());
  int nanCells = 0, mismatches = 0;
  for (int cy = 0; cy < f.height; ++cy)
    for (int cx = 0; cx < f.width; ++cx) {
      bool data = false;
      for (int y = cy * 16; y < std::min(H, cy * 16 + 16) && !data; ++y)
        for (int x = cx * 16; x < std::min(W, cx * 16 + 16) && !data; ++x)
          for (int b = 0; b < 11 && !data; ++b)
            data = px[(static_cast<size_t>(b) * H + y) * W + x] != 255;
      const bool isNan = std::isnan(f.at(0, cx, cy));
      nanCells += isNan;
      mismatches += isNan == data;
      for (int d = 0; d < f.bands && data; ++d) mismatches += !std::isfinite(f.at(d, cx, cy));
    }
  std::cout << "test.tif: " << nanCells << " of " << f.width * f.height
            << " cells are NaN (no data)\n";
  CHECK(mismatches == 0);
  CHECK(!std::filesystem::exists(raster + ".aux.xml"));
}
