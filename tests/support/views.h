// Helpers for the view tests: synthetic feature rasters, metadata as numbers,
// the GDAL command line with the plugin.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tests/support/rasters.h"

namespace vitfeat::test {

// A Float32 feature GeoTIFF, tiled in 16 x 16 blocks, EPSG:32633, 10 m cells
// at (500000, 5200000) as writeRaster; value(x, y, band) may be NaN (no data).
void writeFeatures(const std::string& path, int width, int height, int bands,
                   const std::function<double(int, int, int)>& value);

// A comma-separated metadata item of `domain` as numbers (empty if absent).
std::vector<double> metadataNumbers(GDALDataset* ds, const char* item, const char* domain);

// Runs a GDAL command line with the plugin found on GDAL_DRIVER_PATH and
// VITFEAT_FIT_CACHE=<fitCache> ("NO" to disable); REQUIREs exit status 0.
std::string gdal(const std::string& command, const std::string& fitCache = "NO");

// Opening name with options fails, and the error message contains `message`.
void checkOpenFails(const std::string& name, const std::map<std::string, std::string>& options,
                    const std::string& message);

// Equal values, NaN equal to NaN (no data in the same cells).
bool sameValues(const std::vector<float>& a, const std::vector<float>& b);

// A GeoPackage layer "refs" in EPSG:<epsg> (traditional x, y order) with a
// string field "class": one feature per (WKT geometry, class). Returns path.
std::string writeVector(const std::string& path, int epsg,
                        const std::vector<std::pair<std::string, std::string>>& wktAndClass);

// Reads every band of a raster file as float32 [b][y][x].
std::vector<float> readFile(const std::string& path);

}  // namespace vitfeat::test
