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

  // The same tiling raster read at 1/factor of its resolution (an overview
  // level): pixel (x, y) here covers pixels [x*f, (x+1)*f) x [y*f, (y+1)*f) of
  // this raster, read with GDAL's average resampling (which uses the source's
  // own overviews when it has them). Shares the open datasets.
  std::unique_ptr<SourceRaster> downsampled(int factor) const;
  int factor() const { return factor_; }

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
  // Identity of the source for cache keys: its name, size and modification
  // time, a digest of those of the other files it reads (but PAM's .aux.xml),
  // the selected bands' no data and mask flags, and the reduction factor.
  const std::string& identity() const { return identity_; }
  // identity() and the on-the-fly warp (TARGET_SRS, TARGET_RES, RESAMPLING,
  // and EXTENT, the warp's output bounds, when warped):
  // what determines the pixels read, for keys of values computed from them.
  std::string pixelsKey() const { return identity_ + warp_; }
  const std::string& name() const { return name_; }
  // The tiling area inside the dataset, in dataset pixels (may be empty).
  CellRect datasetWindow() const;

  // Reads `window` of every selected band as float32, band-sequential
  // values[b][y][x], and valid[b][y][x] = 1 where band b has data there (inside
  // the raster and not masked: nodata, alpha or mask band). false + CPLError on I/O error.
  bool read(const PixelWindow& window, float* values, unsigned char* valid) const;

  // A warped source (TARGET_SRS, TARGET_RES) warped again over the same
  // bounds onto at most `side` pixels a side, nearest neighbour: what the
  // statistics estimate samples. Reading the full-resolution warp decimated
  // would warp every block of it first (minutes for a TARGET_RES far finer
  // than the input). nullptr when not warped (CPLError when the warp fails).
  std::shared_ptr<GDALDataset> warpedAtMost(int side) const;
  bool warped() const { return warped_ != nullptr; }

  // Drops this handle's blocks of the selected bands (and of their mask bands)
  // from GDAL's block cache: those holding rows [fromRow, toRow) that lie
  // wholly above toRow (this level's pixels; toRow = height() reaches the
  // bottom). A reader going down the raster needs them no more, and GDAL
  // would otherwise keep the whole source, up to GDAL_CACHEMAX (5 % of the
  // RAM by default), for the whole read. Only the full-resolution level of an
  // unwarped source: an overview level reads through the source's overviews,
  // and a warped one through a VRT over source blocks at other positions; both
  // stay bounded by GDAL_CACHEMAX. Not while another thread reads this source.
  void releaseRows(int fromRow, int toRow) const;

 private:
  GDALDataset* dataset() const { return warped_ ? warped_.get() : source_.get(); }

  // Reads `window` (in this level's pixels) of band i into dst/mask laid out
  // with lineStride; the window is inside this level's part of the dataset.
  bool readBand(int i, const CellRect& window, float* dst, unsigned char* mask,
                size_t lineStride) const;
  // This level's pixel rectangle that covers dataset pixels (clipped to them).
  CellRect levelWindowInDataset(const CellRect& window) const;

  // Shared by every overview level. warped_ references source_: declared
  // after it, so an object holding both destroys it first.
  std::shared_ptr<GDALDataset> source_;
  std::shared_ptr<GDALDataset> warped_;
  std::vector<int> bands_;
  int xoff_ = 0, yoff_ = 0;     // tiling-raster origin in dataset pixels (full resolution)
  int factor_ = 1;              // reduction factor of this level
  int width_ = 0, height_ = 0;  // this level's size
  std::array<double, 6> geoTransform_{0, 1, 0, 0, 0, 1};
  bool hasGeoTransform_ = false;
  std::string identity_;
  std::string warp_;            // empty unless warped
  FeatureOptions warpOptions_;  // TARGET_SRS, TARGET_RES, RESAMPLING, EXTENT when warped
  std::string name_;
};

}  // namespace vitfeat
