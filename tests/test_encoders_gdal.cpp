// The new encoders through a VITFEAT: dataset read with GDAL: the fixture input
// written as a Float32 raster, one tile at the model's input size, no
// normalisation, must give the fixture's patch grid.
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/npy.h"
#include "tests/support/rasters.h"

using namespace vitfeat::test;

namespace {

struct GdalRead {
  double diff;              // largest difference from the fixture's patch grid
  std::string wavelengths;  // VITFEAT metadata WAVELENGTHS and WAVELENGTHS_FROM, if any
  std::string wavelengthsFrom;
};

// Writes sample 0 of input.npy ([B, C, H, W], already normalised) as a raster,
// channel c as band rasterBands[c] (default c + 1) of a raster of rasterBandCount
// bands (default: the largest of them; other bands hold 0), reads
// it back through VITFEAT and compares with sample 0 of patch_grid.npy.
GdalRead gdalParity(const std::string& fixture, const std::string& model, int bands,
                    const TempDir& tmp, const std::map<std::string, std::string>& extra = {},
                    std::vector<int> rasterBands = {}, int rasterBandCount = 0) {
  const torch::Tensor input = loadNpy(fixture + "/input.npy")[0].contiguous();
  const torch::Tensor expected = loadNpy(fixture + "/patch_grid.npy")[0].permute({2, 0, 1});
  REQUIRE(input.size(0) == bands);
  if (rasterBands.empty())
    for (int c = 1; c <= bands; ++c) rasterBands.push_back(c);
  REQUIRE(static_cast<int>(rasterBands.size()) == bands);
  std::vector<int> channelOf(
      std::max(rasterBandCount, *std::max_element(rasterBands.begin(), rasterBands.end())), -1);
  for (int c = 0; c < bands; ++c) channelOf[rasterBands[c] - 1] = c;
  const int H = static_cast<int>(input.size(1)), W = static_cast<int>(input.size(2));
  const auto acc = input.accessor<float, 3>();
  const std::string raster = tmp.file("input.tif");
  writeRaster(raster, W, H, static_cast<int>(channelOf.size()), GDT_Float32,
              [&](int x, int y, int b) {
                return channelOf[b] < 0 ? 0.0 : static_cast<double>(acc[channelOf[b]][y][x]);
              });
  std::map<std::string, std::string> options{{"MODEL", model},
                                             {"NORMALIZE", "none"},
                                             {"INPUT_SIZE", std::to_string(W)},
                                             {"TILE_SIZE", std::to_string(W)},
                                             {"DEVICE", "cpu"},
                                             {"NUM_THREADS", "2"}};
  for (const auto& [k, v] : extra) options[k] = v;
  const auto ds = openFeatures(raster, options);
  INFO(CPLGetLastErrorMsg());
  REQUIRE(ds);
  REQUIRE(ds->GetRasterCount() == expected.size(0));
  REQUIRE(ds->GetRasterXSize() == expected.size(2));
  REQUIRE(ds->GetRasterYSize() == expected.size(1));
  std::vector<float> planes = readAll(ds.get());
  const torch::Tensor got = torch::from_blob(planes.data(), expected.sizes(), torch::kFloat32);
  const char* wl = ds->GetMetadataItem("WAVELENGTHS", "VITFEAT");
  const char* from = ds->GetMetadataItem("WAVELENGTHS_FROM", "VITFEAT");
  return {(got - expected).abs().max().item<double>(), wl ? wl : "", from ? from : ""};
}

}  // namespace

TEST_CASE("encoders through GDAL: SAM and SSL4EO MoCo grids", "[shared][gdal][parity]") {
  setupGdal();
  TempDir tmp;
  SECTION("SAM, 1024 model fed 256 tiles") {
    const std::string dir =
        sharedDir() + "/fixtures/zoo/samvit_base_patch16_depth2_dim192_img1024_global1_in256";
    const double diff = gdalParity(dir, dir, 3, tmp).diff;
    std::cout << "gdal parity SAM img1024 in256: max |diff| = " << diff << "\n";
    CHECK(diff < 1e-4);
  }
  SECTION("SSL4EO-S12 MoCo, 13 bands") {
    const std::string dir = sharedDir() + "/fixtures/rs/ssl4eo_moco_depth2_dim128";
    const double diff = gdalParity(dir, dir + "/checkpoint.pth", 13, tmp).diff;
    std::cout << "gdal parity SSL4EO 13 bands: max |diff| = " << diff << "\n";
    CHECK(diff < 1e-4);
  }
}

TEST_CASE("encoders through GDAL: DOFA grid, wavelengths from the option or band numbers",
          "[shared][gdal][parity]") {
  setupGdal();
  TempDir tmp;
  const std::string dir = sharedDir() + "/fixtures/rs/dofa_depth2_dim64";
  SECTION("WAVELENGTHS=0.49,0.56,0.665,0.832") {
    const GdalRead r = gdalParity(dir, dir + "/checkpoint.pth", 4, tmp,
                                  {{"WAVELENGTHS", "0.49,0.56,0.665,0.832"}});
    std::cout << "gdal parity DOFA (WAVELENGTHS): max |diff| = " << r.diff << "\n";
    CHECK(r.diff < 1e-4);
    CHECK(r.wavelengths == "0.49,0.56,0.665,0.832");
    CHECK(r.wavelengthsFrom == "option");
  }
  SECTION("bands 2, 3, 4, 8 of a 12-band raster, as the plugin: Sentinel-2 B2, B3, B4, B8") {
    const GdalRead r =
        gdalParity(dir, dir + "/checkpoint.pth", 4, tmp, {{"BANDS", "2,3,4,8"}}, {2, 3, 4, 8}, 12);
    std::cout << "gdal parity DOFA (band numbers 2,3,4,8): max |diff| = " << r.diff << "\n";
    CHECK(r.diff < 1e-4);
    CHECK(r.wavelengths == "0.49,0.56,0.665,0.832");
    CHECK(r.wavelengthsFrom == "sentinel2");
  }
}
