// What VITFEAT and every view have in common as GDAL datasets, apart from
// what they compute:
// - the read path: a dataset computes the planes of all its bands over a
//   window at once (windowPlanes); full-resolution reads, of the dataset or
//   of one band, go through it in chunks of bounded size with progress and
//   cancellation; a block read fills the sibling bands' blocks; resampled
//   reads go to GDAL, which picks an overview level;
// - GDAL's side files beside a descriptor (PAM .aux.xml for statistics and
//   histograms, gdaladdo's .ovr);
// - overview levels computed by the dataset itself, which a .ovr replaces
//   when there is one.
#pragma once

#include <gdal_pam.h>
#include <gdal_priv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "driver/tile_grid.h"

namespace vitfeat {

class LazyDataset : public GDALPamDataset {
 public:
  // The planes ([band][y][x], float32) of every band over a full-resolution
  // window; the last window is kept, so band-by-band reads of one window
  // compute it once. progress (may be null) is told the fraction done and may
  // cancel. nullptr + CPLError (CPLE_UserInterrupt when cancelled).
  virtual const float* windowPlanes(const CellRect& window, GDALProgressFunc progress,
                                    void* progressData) = 0;
  // Bytes held while computing a window of width x height cells.
  virtual std::size_t windowBytes(int width, int height) const = 0;

  // Computed levels, finest first (none while gdaladdo builds a .ovr).
  int computedOverviewCount() const {
    return buildingExternal_ ? 0 : static_cast<int>(overviews_.size());
  }
  GDALDataset* computedOverview(int i) const { return overviews_[i].get(); }

  // The descriptor with its .aux.xml and .ovr when there are: the files of
  // this dataset. Never the source's: GDAL deletes the listed files when a
  // dataset is deleted or overwritten (gdal_translate onto an existing
  // descriptor, gdalmanage delete), and the source is the user's data.
  char** GetFileList() override;

 protected:
  CPLErr IRasterIO(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data, int bufx,
                   int bufy, GDALDataType bufType, int bandCount, int* bandMap, GSpacing pixelSpace,
                   GSpacing lineSpace, GSpacing bandSpace, GDALRasterIOExtraArg* extra) override;
  // gdaladdo: builds the external .ovr. GDAL matches existing levels through
  // the bands' overviews, which must then be the .ovr's alone.
  CPLErr IBuildOverviews(const char* resampling, int count, const int* levels, int bandCount,
                         const int* bands, GDALProgressFunc progress, void* progressData,
                         CSLConstList options) override;
  // Side files beside `descriptor`, opened with `access` (update only lets
  // PAM and .ovr be written); an empty descriptor (a connection string, an
  // overview level) has none.
  void initSideFiles(const std::string& descriptor, GDALAccess access);

  std::vector<std::unique_ptr<GDALDataset>> overviews_;

 private:
  // IRasterIO's body; IRasterIO turns its exceptions into CPLErrors.
  CPLErr readWindow(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data, int bufx,
                    int bufy, GDALDataType bufType, int bandCount, int* bandMap,
                    GSpacing pixelSpace, GSpacing lineSpace, GSpacing bandSpace,
                    GDALRasterIOExtraArg* extra);

  std::string descriptor_;  // empty: opened from a connection string, or a level
  bool buildingExternal_ = false;
};

// A band of a LazyDataset: its overviews are the .ovr's when there are any,
// else the computed levels' bands.
class LazyBand : public GDALPamRasterBand {
 public:
  int GetOverviewCount() override;
  GDALRasterBand* GetOverview(int i) override;

 protected:
  // The block's window for every band; the siblings' blocks are filled too.
  CPLErr IReadBlock(int bx, int by, void* data) override;
  // A full-resolution window of at least a block is computed for every band
  // at once (in batches, not block by block) and kept, so the next band's
  // read of it (QGIS, rasterio, GDAL's band-by-band copies) reuses it.
  // Smaller windows use GDAL's block cache; resampled reads go to GDAL.
  CPLErr IRasterIO(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data, int bufx,
                   int bufy, GDALDataType bufType, GSpacing pixelSpace, GSpacing lineSpace,
                   GDALRasterIOExtraArg* extra) override;

 private:
  CPLErr readWindow(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data, int bufx,
                    int bufy, GDALDataType bufType, GSpacing pixelSpace, GSpacing lineSpace,
                    GDALRasterIOExtraArg* extra);
};

}  // namespace vitfeat
