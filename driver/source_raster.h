// The raster the tiles are cut from: the source dataset, optionally warped on
// the fly (TARGET_SRS, TARGET_RES) and restricted to EXTENT. Pixel coordinates
// here are those of the tiling raster, whose origin is the extent's corner;
// windows may reach past any edge, where pixels read as "no data".
#pragma once

#include <gdal_priv.h>
#include <ogr_spatialref.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "driver/feature_options.h"
#include "driver/tile_grid.h"

namespace vitfeat {

class SourceRaster {
 public:
  // CPLError + nullptr on failure (unreadable source, bad band, bad extent...).
  static std::unique_ptr<SourceRaster> open(const std::string& name, const FeatureOptions& options);

  int width() const { return width_; }
  int height() const { return height_; }
  int bandCount() const { return static_cast<int>(bands_.size()); }
  const std::vector<int>& bands() const { return bands_; }  // 1-based, of the source
  const std::array<double, 6>& geoTransform() const { return geoTransform_; }
  bool hasGeoTransform() const { return hasGeoTransform_; }
  const OGRSpatialReference* spatialRef() const { return dataset()->GetSpatialRef(); }
  GDALDataType dataType(int i) const;
  // Band i (0-based in bands()) of the dataset tiles are read from.
  GDALRasterBand* band(int i) const { return dataset()->GetRasterBand(bands_[i]); }
  // The original source band i (stored statistics live there, not on a warped VRT).
  GDALRasterBand* sourceBand(int i) const { return source_->GetRasterBand(bands_[i]); }
  // Identity of the source for cache keys: name, size and modification time.
  const std::string& identity() const { return identity_; }
  const std::string& name() const { return name_; }
  // The files of the source dataset (GDALDataset::GetFileList; CSLDestroy it).
  char** fileList() const { return source_->GetFileList(); }
  // The tiling area inside the dataset, in dataset pixels (may be empty).
  CellRect datasetWindow() const;

  // Reads `window` of every selected band as float32, band-sequential
  // values[b][y][x], and valid[b][y][x] = 1 where band b has data there (inside
  // the raster and not masked: nodata, alpha or mask band). false + CPLError on I/O error.
  bool read(const PixelWindow& window, float* values, unsigned char* valid) const;

 private:
  GDALDataset* dataset() const { return warped_ ? warped_.get() : source_.get(); }

  std::unique_ptr<GDALDataset> source_;
  std::unique_ptr<GDALDataset> warped_;  // references source_: declared after it, destroyed first
  std::vector<int> bands_;
  int xoff_ = 0, yoff_ = 0;  // tiling-raster origin in dataset pixels
  int width_ = 0, height_ = 0;
  std::array<double, 6> geoTransform_{0, 1, 0, 0, 0, 1};
  bool hasGeoTransform_ = false;
  std::string identity_;
  std::string name_;
};

}  // namespace vitfeat
