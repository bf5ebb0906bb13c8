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

#include <gdal_priv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "driver/feature_engine.h"
#include "driver/feature_options.h"
#include "driver/lazy_dataset.h"
#include "driver/source_raster.h"

namespace vitfeat {

class VitfeatDataset final : public LazyDataset {
 public:
  static GDALDataset* Open(GDALOpenInfo* info);
  // Writes a .vitfeat descriptor of a VITFEAT dataset (gdal_translate -of VITFEAT).
  static GDALDataset* CreateCopy(const char* filename, GDALDataset* src, int strict, char** options,
                                 GDALProgressFunc progress, void* progressData);

  CPLErr GetGeoTransform(double* gt) override;
  const OGRSpatialReference* GetSpatialRef() const override;
  char** GetMetadataDomainList() override;
  char** GetMetadata(const char* domain = "") override;
  const char* GetMetadataItem(const char* name, const char* domain = "") override;
  // Closes the source raster (see GDALDataset::CloseDependentDatasets: at
  // shutdown GDAL deletes every open dataset, so owned ones go first).
  int CloseDependentDatasets() override;

  // The source and the options the dataset was opened with (for descriptors).
  const std::string& sourceName() const { return sourceName_; }
  const std::map<std::string, std::string>& userOptions() const { return userOptions_; }
  const FeatureEngine& engine() const { return *engine_; }

  const float* windowPlanes(const CellRect& window, GDALProgressFunc progress,
                            void* progressData) override;
  std::size_t windowBytes(int width, int height) const override;

 private:
  VitfeatDataset() = default;
  static GDALDataset* openDataset(GDALOpenInfo* info);  // Open, which catches
  struct Level;                                         // what every level of one dataset shares
  // Makes this dataset the feature raster of `source` (size, geotransform,
  // engine, bands). CPLError + false on failure.
  bool initLevel(std::unique_ptr<SourceRaster> source, const Level& level);
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
};

class VitfeatBand final : public LazyBand {
 public:
  VitfeatBand(VitfeatDataset* ds, int band, int blockSize);
  double GetNoDataValue(int* success) override;
};

}  // namespace vitfeat
