// Small rasters and models for driver tests, written to temp folders.
#pragma once

#include <gdal_priv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vitfeat::test {

struct GdalCloser {
  void operator()(GDALDataset* ds) const { GDALClose(GDALDataset::ToHandle(ds)); }
};
using DatasetPtr = std::unique_ptr<GDALDataset, GdalCloser>;

// The same for GDAL's C API handles.
struct GdalHandleCloser {
  void operator()(GDALDatasetH ds) const {
    if (ds) GDALClose(ds);
  }
};
using Dataset = std::unique_ptr<void, GdalHandleCloser>;

// Registers the linked-in VITFEAT driver, then GDAL's: registering first makes
// the in-process copy win over a plugin found on GDAL_DRIVER_PATH.
void setupGdal();

// A GeoTIFF in EPSG:32633 with 10 m pixels at (500000, 5200000); value(x, y, band0).
void writeRaster(const std::string& path, int width, int height, int bands, GDALDataType type,
                 const std::function<double(int, int, int)>& value,
                 const std::vector<std::string>& creationOptions = {});

// A seeded random timm-layout ViT folder (config.json + model.safetensors):
// patch 16, the given input size, depth and width, 3 stored input channels.
std::string writeTinyModel(const std::string& dir, int inputSize = 64, int depth = 1, int dim = 32,
                           unsigned seed = 1);

// Opens VITFEAT:<source> with KEY=VALUE open options (registers the driver).
DatasetPtr openFeatures(const std::string& source,
                        const std::map<std::string, std::string>& options);

// Opens any raster (a view connection string, a descriptor...) with KEY=VALUE
// open options, verbose errors (registers the drivers).
DatasetPtr openDataset(const std::string& name,
                       const std::map<std::string, std::string>& options = {});

// Every band of a window, band-sequential [b][y][x], as float32.
std::vector<float> readWindow(GDALDataset* ds, int x0, int y0, int w, int h);
inline std::vector<float> readAll(GDALDataset* ds) {
  return readWindow(ds, 0, 0, ds->GetRasterXSize(), ds->GetRasterYSize());
}

// A whole file's bytes, and a file written from bytes (throws when it cannot).
std::string readFileBytes(const std::string& path);
void writeFileBytes(const std::string& path, const std::string& bytes);

// Overwrites with garbage the compressed bytes of TIFF block (bx, by) of band
// 1 of a tiled, compressed GeoTIFF: reading that block then fails in libtiff.
void damageTiffBlock(const std::string& path, int bx, int by);

// Output of a command line (stdout and stderr), and its exit status.
std::string runCommand(const std::string& command, int* status);

}  // namespace vitfeat::test
