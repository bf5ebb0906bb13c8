// Band wavelengths for wavelength-conditioned encoders (DOFA) through the
// VITFEAT driver: the WAVELENGTHS option, else band metadata (IMAGERY
// CENTRAL_WAVELENGTH_UM, ENVI wavelength + wavelength_units), else Sentinel-2
// band numbers; what is recorded; the errors; and that datasets with other
// wavelengths never share an encoder or cached tiles.
#include <cpl_error.h>
#include <cpl_vsi.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"

using namespace vitfeat::test;

namespace {

constexpr int kSize = 64;  // source rasters: 64 x 64 pixels

std::string dofaModel() { return sharedDir() + "/fixtures/rs/dofa_depth2_dim64/checkpoint.pth"; }

double pixel(int x, int y, int b) { return std::sin(0.37 * x + 0.11 * y * (b + 1) + b); }

// A Float32 GeoTIFF of `bands` bands; `wavelengthUm[i]` > 0 sets band i+1's
// CENTRAL_WAVELENGTH_UM in the IMAGERY domain (kept in the file or its .aux.xml).
std::string imageryRaster(const TempDir& tmp, const std::string& name, int bands,
                          const std::vector<double>& wavelengthUm = {}) {
  const std::string path = tmp.file(name);
  writeRaster(path, kSize, kSize, bands, GDT_Float32, pixel);
  if (!wavelengthUm.empty()) {
    DatasetPtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
    REQUIRE(ds);
    for (size_t i = 0; i < wavelengthUm.size(); ++i)
      if (wavelengthUm[i] > 0)
        ds->GetRasterBand(static_cast<int>(i) + 1)
            ->SetMetadataItem("CENTRAL_WAVELENGTH_UM", CPLSPrintf("%.9g", wavelengthUm[i]),
                              "IMAGERY");
  }
  return path;
}

// A classic ENVI file (raw BSQ float32 + .hdr) with a header wavelength list,
// which GDAL's ENVI driver gives every band as wavelength / wavelength_units.
std::string enviRaster(const TempDir& tmp, int bands, const std::string& wavelengths,
                       const std::string& units) {
  const std::string path = tmp.file("envi.bsq");
  std::vector<float> data;
  for (int b = 0; b < bands; ++b)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x) data.push_back(static_cast<float>(pixel(x, y, b)));
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(std::fwrite(data.data(), sizeof(float), data.size(), f) == data.size());
  std::fclose(f);
  std::string hdr = "ENVI\nsamples = " + std::to_string(kSize) +
                    "\nlines = " + std::to_string(kSize) + "\nbands = " + std::to_string(bands) +
                    "\nheader offset = 0\nfile type = ENVI Standard\ndata type = 4\n"
                    "interleave = bsq\nbyte order = 0\nwavelength = {" +
                    wavelengths + "}\n";
  if (!units.empty()) hdr += "wavelength units = " + units + "\n";
  f = std::fopen(tmp.file("envi.hdr").c_str(), "w");
  REQUIRE(f);
  std::fputs(hdr.c_str(), f);
  std::fclose(f);
  return path;
}

std::map<std::string, std::string> dofaOptions(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> o{{"MODEL", dofaModel()}, {"NORMALIZE", "none"},
                                       {"INPUT_SIZE", "32"},   {"TILE_SIZE", "32"},
                                       {"DEVICE", "cpu"},      {"NUM_THREADS", "2"}};
  for (const auto& [k, v] : extra) o[k] = v;
  return o;
}

std::string item(GDALDataset* ds, const char* name) {
  const char* v = ds->GetMetadataItem(name, "VITFEAT");
  return v ? v : "";
}

// Opens VITFEAT:<raster> and returns "WAVELENGTHS from WAVELENGTHS_FROM".
std::string recorded(const std::string& raster, const std::map<std::string, std::string>& extra) {
  const auto ds = openFeatures(raster, dofaOptions(extra));
  INFO(CPLGetLastErrorMsg());
  REQUIRE(ds);
  return item(ds.get(), "WAVELENGTHS") + " from " + item(ds.get(), "WAVELENGTHS_FROM");
}

// The open's error message; the open must fail.
std::string openError(const std::string& raster,
                      const std::map<std::string, std::string>& options) {
  ExpectErrors quiet;
  const auto ds = openFeatures(raster, options);
  CHECK_FALSE(ds);
  return CPLGetLastErrorMsg();
}

}  // namespace

TEST_CASE("wavelengths: option, band metadata, Sentinel-2 band numbers", "[shared][gdal]") {
  setupGdal();
  TempDir tmp;
  SECTION("WAVELENGTHS option, over any metadata") {
    const std::string r = imageryRaster(tmp, "plain.tif", 4);
    CHECK(recorded(r, {{"WAVELENGTHS", "0.49, 0.56,0.665,0.832"}}) ==
          "0.49,0.56,0.665,0.832 from option");
    const std::string m = imageryRaster(tmp, "meta.tif", 4, {0.45, 0.55, 0.65, 0.85});
    CHECK(recorded(m, {{"WAVELENGTHS", "0.49,0.56,0.665,0.832"}}) ==
          "0.49,0.56,0.665,0.832 from option");
  }
  SECTION("CENTRAL_WAVELENGTH_UM in the IMAGERY domain, in BANDS order") {
    const std::string m = imageryRaster(tmp, "meta.tif", 4, {0.45, 0.55, 0.65, 0.85});
    CHECK(recorded(m, {}) == "0.45,0.55,0.65,0.85 from metadata");
    CHECK(recorded(m, {{"BANDS", "4,1"}}) == "0.85,0.45 from metadata");
  }
  SECTION("ENVI wavelength + wavelength units, nanometres converted") {
    const std::string e = enviRaster(tmp, 4, "490, 560, 665, 842", "Nanometers");
    CHECK(recorded(e, {}) == "0.49,0.56,0.665,0.842 from metadata");
  }
  SECTION("ENVI wavelength in micrometres") {
    const std::string e = enviRaster(tmp, 3, "0.48, 0.56, 0.66", "Micrometers");
    CHECK(recorded(e, {}) == "0.48,0.56,0.66 from metadata");
  }
  SECTION("Sentinel-2 band numbers when no metadata") {
    const std::string r = imageryRaster(tmp, "s2.tif", 12);
    CHECK(recorded(r, {{"BANDS", "2,3,4,8"}}) == "0.49,0.56,0.665,0.832 from sentinel2");
    CHECK(recorded(r, {{"BANDS", "12,1"}}) == "2.2,0.44 from sentinel2");
  }
  SECTION("metadata on only some selected bands, or without units, is not used") {
    const std::string m = imageryRaster(tmp, "partial.tif", 4, {0.45, 0.55, 0.65, 0});
    CHECK(recorded(m, {}) == "0.44,0.49,0.56,0.665 from sentinel2");
    CHECK(recorded(m, {{"BANDS", "3,1"}}) == "0.65,0.45 from metadata");
    const std::string e = enviRaster(tmp, 2, "490, 560", "");
    CHECK(recorded(e, {}) == "0.44,0.49 from sentinel2");
  }
}

TEST_CASE("wavelengths: none found fails with how to give them", "[shared][gdal]") {
  setupGdal();
  TempDir tmp;
  const std::string r = imageryRaster(tmp, "b13.tif", 13);
  const std::string msg = openError(r, dofaOptions({{"BANDS", "2,13"}}));
  CHECK_THAT(msg, Catch::Contains("-oo WAVELENGTHS=0.49,0.56"));
  CHECK_THAT(msg, Catch::Contains("band 13"));
  CHECK_THAT(msg, Catch::Contains("BANDS=2,13"));
  // Implausible values (nanometres given as micrometres) name their source.
  const std::string nm = openError(r, dofaOptions({{"BANDS", "2,3"}, {"WAVELENGTHS", "490,560"}}));
  CHECK_THAT(nm, Catch::Contains("490"));
  CHECK_THAT(nm, Catch::Contains("from option"));
}

TEST_CASE("wavelengths: invalid WAVELENGTHS and ENCODER values", "[gdal]") {
  setupGdal();
  TempDir tmp;
  const std::string r = imageryRaster(tmp, "four.tif", 4);
  // Parsed and counted before any model is loaded.
  const std::map<std::string, std::string> base{{"MODEL", tmp.file("no-model")}};
  auto with = [&](const char* key, const char* value) {
    auto o = base;
    o[key] = value;
    return o;
  };
  std::string msg = openError(r, with("WAVELENGTHS", "0.49,0.56"));
  CHECK_THAT(msg,
             Catch::Contains("WAVELENGTHS has 2 values but 4 bands are selected (BANDS=1,2,3,4)"));
  CHECK_THAT(msg, Catch::Contains("WAVELENGTHS=0.49,0.56"));
  auto three = with("WAVELENGTHS", "0.49,0.56");
  three["BANDS"] = "4,3,2";
  msg = openError(r, three);
  CHECK_THAT(msg, Catch::Contains("2 values but 3 bands are selected (BANDS=4,3,2)"));
  for (const char* bad :
       {"0.49,blue,0.665,0.832", "0.49,-0.56,0.665,0.832", "0.49,0,1,2", "nan", ""}) {
    INFO(bad);
    msg = openError(r, with("WAVELENGTHS", bad));
    CHECK_THAT(msg, Catch::Contains(std::string("invalid WAVELENGTHS=") + bad + ":"));
    CHECK_THAT(msg, Catch::Contains("micrometres"));
  }
  msg = openError(r, with("ENCODER", "mae"));
  CHECK_THAT(msg, Catch::Contains("invalid ENCODER=mae"));
  CHECK_THAT(msg, Catch::Contains("auto, timm, ssl4eo_moco, dofa"));
}

TEST_CASE("wavelengths: not recorded for encoders that ignore them", "[gdal]") {
  setupGdal();
  TempDir tmp;
  const std::string model = writeTinyModel(tmp.file("vit"), 32);
  const std::string r = imageryRaster(tmp, "rgb.tif", 3, {0.665, 0.56, 0.49});
  for (const auto& extra : std::vector<std::map<std::string, std::string>>{
           {}, {{"WAVELENGTHS", "0.6,0.5,0.4"}}, {{"ENCODER", "timm"}}}) {
    std::map<std::string, std::string> o{{"MODEL", model}, {"DEVICE", "cpu"}};
    for (const auto& [k, v] : extra) o[k] = v;
    const auto ds = openFeatures(r, o);
    INFO(CPLGetLastErrorMsg());
    REQUIRE(ds);
    CHECK(ds->GetMetadataItem("WAVELENGTHS", "VITFEAT") == nullptr);
    CHECK(ds->GetMetadataItem("WAVELENGTHS_FROM", "VITFEAT") == nullptr);
    CHECK(item(ds.get(), "ENCODER") == (extra.count("ENCODER") ? "timm" : ""));
  }
  ExpectErrors quiet;
  std::map<std::string, std::string> o{{"MODEL", model}, {"ENCODER", "dofa"}};
  CHECK_FALSE(openFeatures(r, o));
}

TEST_CASE("wavelengths: other wavelengths, other features (encoder and tile caches)",
          "[shared][gdal]") {
  setupGdal();
  TempDir tmp;
  const std::string r = imageryRaster(tmp, "four.tif", 4);
  const auto a = openFeatures(r, dofaOptions({{"WAVELENGTHS", "0.49,0.56,0.665,0.832"}}));
  const auto b = openFeatures(r, dofaOptions({{"WAVELENGTHS", "0.44,0.49,0.56,0.665"}}));
  INFO(CPLGetLastErrorMsg());
  REQUIRE(a);
  REQUIRE(b);
  const std::vector<float> fa = readAll(a.get());
  const std::vector<float> fb = readAll(b.get());
  REQUIRE(fa.size() == fb.size());
  double diff = 0;
  for (size_t i = 0; i < fa.size(); ++i) diff = std::max(diff, double(std::fabs(fa[i] - fb[i])));
  CHECK(diff > 0.1);
  CHECK(item(b.get(), "TILES_REUSED") == "0");
  // Bands 1..4 without metadata are Sentinel-2 B1..B4: b's wavelengths, b's tiles.
  const auto c = openFeatures(r, dofaOptions({}));
  REQUIRE(c);
  CHECK(item(c.get(), "WAVELENGTHS") == "0.44,0.49,0.56,0.665");
  CHECK(readAll(c.get()) == fb);
  CHECK(item(c.get(), "TILES_COMPUTED") == "0");
  CHECK(item(c.get(), "TILES_REUSED") != "0");
  // Without the tile cache, the shared encoder still gives a's features.
  const auto d =
      openFeatures(r, dofaOptions({{"WAVELENGTHS", "0.49,0.56,0.665,0.832"}, {"CACHE_MB", "0"}}));
  REQUIRE(d);
  CHECK(readAll(d.get()) == fa);
  CHECK(item(d.get(), "TILES_COMPUTED") != "0");
}
