// VITFEAT: a lazy GDAL dataset whose bands are the ViT features of a source
// raster. Blocks are computed on demand by a FeatureEngine; a multi-band read
// runs inference once for all bands, and a single-band block read fills the
// sibling bands' blocks in GDAL's block cache.
#pragma once

#include <gdal_priv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "driver/feature_engine.h"
#include "driver/feature_options.h"
#include "driver/source_raster.h"

namespace vitfeat {

class VitfeatDataset final : public GDALDataset {
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

 protected:
  CPLErr IRasterIO(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data, int bufx,
                   int bufy, GDALDataType bufType, int bandCount, int* bandMap, GSpacing pixelSpace,
                   GSpacing lineSpace, GSpacing bandSpace, GDALRasterIOExtraArg* extra) override;

 private:
  friend class VitfeatBand;
  VitfeatDataset() = default;
  // The window's feature planes ([D][h][w]); the last window is kept, so
  // band-by-band reads of the same window blend it once.
  const float* planes(const CellRect& window);
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

class VitfeatBand final : public GDALRasterBand {
 public:
  VitfeatBand(VitfeatDataset* ds, int band, int blockSize);
  double GetNoDataValue(int* success) override;

 protected:
  CPLErr IReadBlock(int bx, int by, void* data) override;
};

}  // namespace vitfeat
