// The feature raster under a view: any GDAL raster whose bands are features (a
// VITFEAT: dataset or descriptor, a feature GeoTIFF, another view). Everything
// is read with one multi-band RasterIO per window, never band by band, so a
// lazy source runs its model once per window.
#pragma once

#include <gdal_priv.h>

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "driver/tile_grid.h"
#include "driver/views/view_options.h"

namespace vitfeat {

class FeatureSource {
 public:
  // Opens name with the given open options. CPLError + nullptr on failure.
  static std::unique_ptr<FeatureSource> open(const std::string& driver, const std::string& name,
                                             const OptionMap& openOptions);

  // Overview levels of the source that cover every band (GDAL's overviews of
  // a feature file, or the computed levels of a lazy source), and a source
  // reading level i: the parent's overview dataset, kept alive with it.
  int overviewCount() const;
  std::unique_ptr<FeatureSource> overview(int i) const;

  GDALDataset* dataset() const { return dataset_.get(); }
  const std::string& name() const { return name_; }
  const OptionMap& openOptions() const { return openOptions_; }
  int width() const { return dataset_->GetRasterXSize(); }
  int height() const { return dataset_->GetRasterYSize(); }
  int bands() const { return dataset_->GetRasterCount(); }
  int blockWidth() const { return blockWidth_; }
  int blockHeight() const { return blockHeight_; }

  // Every band of `window` as float32, band-sequential ([band][y][x], i.e. a
  // column-major cells x bands matrix). A cell where any band has no data
  // (NaN, the band's no-data value, or masked) is NaN in every band.
  // false + CPLError on a read error or cancellation.
  bool read(const CellRect& window, std::vector<float>& planes, GDALProgressFunc progress = nullptr,
            void* progressData = nullptr) const;

  // Up to `count` cells with data (all cells when count is 0 or at least the
  // raster's cell count), chosen tile by tile: whole source blocks are read in
  // a seeded random order until enough cells are found, then `count` of them
  // are drawn uniformly, so a lazy source computes only the blocks sampled.
  // rows: one cell per row. blocksRead reports the cost.
  bool sample(int64_t count, uint64_t seed, Eigen::MatrixXd& rows, int* blocksRead,
              GDALProgressFunc progress, void* progressData) const;

  // What identifies the source's content for fit caches: name, options, size,
  // the files behind it (size and modification time) and its metadata record.
  std::string signature() const;

  // The source's laziness counters (TILES_COMPUTED, TILES_REUSED) if it has them.
  const char* counter(const char* name) const;

 private:
  std::string driver_;
  std::string name_;
  OptionMap openOptions_;
  // An overview's dataset shares ownership of the opened (parent) dataset.
  std::shared_ptr<GDALDataset> dataset_;
  int blockWidth_ = 0, blockHeight_ = 0;
};

}  // namespace vitfeat
