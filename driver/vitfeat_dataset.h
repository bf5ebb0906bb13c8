// VITFEAT: a lazy GDAL dataset whose bands are the ViT features of a source
// raster. Blocks are computed on demand by a FeatureEngine; a multi-band read
// runs inference once for all bands, and a single-band block read fills the
// sibling bands' blocks in GDAL's block cache.
//
// Overviews are feature datasets of their own: the same model run on the input
// read at 1/2, 1/4, ... of its resolution, so a zoomed-out viewer computes a
// few coarse tiles. Opened from a descriptor, the dataset keeps GDAL's PAM
// (.aux.xml: statistics, histograms) and external overviews (.ovr) beside it.
#pragma once

#include <gdal_pam.h>
#include <gdal_priv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "driver/feature_engine.h"
#include "driver/feature_options.h"
#include "driver/source_raster.h"

namespace vitfeat {

class VitfeatDataset final : public GDALPamDataset {
 public:
  static int Identify(GDALOpenInfo* info);
  static GDALDataset* Open(GDALOpenInfo* info);
  // Writes a .vitfeat descriptor of a VITFEAT dataset (gdal_translate -of VITFEAT).
  static GDALDataset* CreateCopy(const char* filename, GDALDataset* src, int strict, char** options,
                                 GDALProgressFunc progress, void* progressData);

  CPLErr GetGeoTransform(double* gt) override;
  const OGRSpatialReference* GetSpatialRef() const override;
  char** GetMetadataDomainList() override;
  char** GetMetadata(const char* domain = "") override;
  const char* GetMetadataItem(const char* name, const char* domain = "") override;
  // The descriptor (when opened from one) and the source raster's files.
  char** GetFileList() override;
  // Closes the source raster (see GDALDataset::CloseDependentDatasets: at
  // shutdown GDAL deletes every open dataset, so owned ones go first).
  int CloseDependentDatasets() override;

  // The source and the options the dataset was opened with (for descriptors).
  const std::string& sourceName() const { return sourceName_; }
  const std::map<std::string, std::string>& userOptions() const { return userOptions_; }
  const FeatureEngine& engine() const { return *engine_; }
  // Computed overview levels (not counting .ovr ones).
  int computedOverviewCount() const {
    return buildingExternal_ ? 0 : static_cast<int>(overviews_.size());
  }
  VitfeatDataset* computedOverview(int i) const { return overviews_[i].get(); }

 protected:
  // gdaladdo: builds the external .ovr (GDAL matches existing levels through
  // the bands' overviews, which must then be the .ovr's alone).
  CPLErr IBuildOverviews(const char* resampling, int count, const int* levels, int bandCount,
                         const int* bands, GDALProgressFunc progress, void* progressData,
                         CSLConstList options) override;
  CPLErr IRasterIO(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data, int bufx,
                   int bufy, GDALDataType bufType, int bandCount, int* bandMap, GSpacing pixelSpace,
                   GSpacing lineSpace, GSpacing bandSpace, GDALRasterIOExtraArg* extra) override;

 private:
  friend class VitfeatBand;
  VitfeatDataset() = default;
  static GDALDataset* openDataset(GDALOpenInfo* info);  // Open, which catches
  struct Level;                                         // what every level of one dataset shares
  // Makes this dataset the feature raster of `source` (size, geotransform,
  // engine, bands). CPLError + false on failure.
  bool initLevel(std::unique_ptr<SourceRaster> source, const Level& level);
  // The window's feature planes ([D][h][w]); the last window is kept, so
  // band-by-band reads of the same window blend it once. progress may be null.
  const float* planes(const CellRect& window, const FeatureEngine::Progress* progress = nullptr);
  void refreshCounters();

  std::string sourceName_;
  std::string descriptorPath_;  // empty for VITFEAT:<source>
  std::map<std::string, std::string> userOptions_;
  std::unique_ptr<SourceRaster> source_;
  std::unique_ptr<FeatureEngine> engine_;
  std::array<double, 6> geoTransform_{};
  bool hasGeoTransform_ = false;
  CPLStringList record_;  // the VITFEAT metadata domain
  CellRect lastWindow_;
  std::vector<float> lastPlanes_;
  std::vector<std::unique_ptr<VitfeatDataset>> overviews_;
  bool buildingExternal_ = false;
};

class VitfeatBand final : public GDALPamRasterBand {
 public:
  VitfeatBand(VitfeatDataset* ds, int band, int blockSize);
  double GetNoDataValue(int* success) override;
  // External overviews (gdaladdo on a descriptor) when there are any, else the
  // computed ones.
  int GetOverviewCount() override;
  GDALRasterBand* GetOverview(int i) override;

 protected:
  CPLErr IReadBlock(int bx, int by, void* data) override;
  // A window read at full resolution computes the window for every band at
  // once (in batches, not block by block) and keeps it, so the next band's
  // read of the same window (QGIS, rasterio, GDAL's band-by-band copies)
  // reuses it. Resampled reads go to GDAL, which picks an overview level.
  CPLErr IRasterIO(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data, int bufx,
                   int bufy, GDALDataType bufType, GSpacing pixelSpace, GSpacing lineSpace,
                   GDALRasterIOExtraArg* extra) override;
};

}  // namespace vitfeat
