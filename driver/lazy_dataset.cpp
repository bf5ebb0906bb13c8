#include "driver/lazy_dataset.h"

#include <algorithm>
#include <cstdint>

#include "driver/block_io.h"
#include "driver/c_boundary.h"

namespace vitfeat {

namespace {

// A full-resolution band read keeps at most this many bytes of planes for
// the next band; larger ones go block by block.
constexpr std::size_t kMaxWindowBytes = std::size_t(128) << 20;
// A dataset read (gdal_translate's swaths) is computed in chunks of whole
// block rows of at most this many bytes of planes: memory does not grow with
// the swath. Tiles on a chunk's edge are shared with the next chunk through
// the tile cache.
constexpr std::size_t kMaxChunkBytes = std::size_t(32) << 20;

// GDAL's progress of a read, or nullptr.
GDALProgressFunc progressOf(const GDALRasterIOExtraArg* extra) {
  return extra ? extra->pfnProgress : nullptr;
}
void* progressDataOf(const GDALRasterIOExtraArg* extra) {
  return extra ? extra->pProgressData : nullptr;
}

CPLErr readOnly(GDALDataset* ds) {
  CPLError(CE_Failure, CPLE_NotSupported, "%s: the bands are read-only",
           ds->GetDriver() ? ds->GetDriver()->GetDescription() : ds->GetDescription());
  return CE_Failure;
}

}  // namespace

CPLErr LazyDataset::IRasterIO(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data,
                              int bufx, int bufy, GDALDataType bufType, int bandCount, int* bandMap,
                              GSpacing pixelSpace, GSpacing lineSpace, GSpacing bandSpace,
                              GDALRasterIOExtraArg* extra) {
  return guarded(GetDescription(), CE_Failure, [&] {
    return readWindow(rw, xoff, yoff, xsize, ysize, data, bufx, bufy, bufType, bandCount, bandMap,
                      pixelSpace, lineSpace, bandSpace, extra);
  });
}

CPLErr LazyDataset::readWindow(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data,
                               int bufx, int bufy, GDALDataType bufType, int bandCount,
                               int* bandMap, GSpacing pixelSpace, GSpacing lineSpace,
                               GSpacing bandSpace, GDALRasterIOExtraArg* extra) {
  if (rw != GF_Read) return readOnly(this);
  if (bufx != xsize || bufy != ysize)
    return GDALPamDataset::IRasterIO(rw, xoff, yoff, xsize, ysize, data, bufx, bufy, bufType,
                                     bandCount, bandMap, pixelSpace, lineSpace, bandSpace, extra);
  // Chunks of whole block rows (tiles are not split between chunks more
  // than block reads would split them), or the whole window when it fits.
  int blockX = 0, blockY = 0;
  papoBands[0]->GetBlockSize(&blockX, &blockY);
  const std::size_t fit = kMaxChunkBytes / std::max<std::size_t>(1, windowBytes(xsize, 1));
  const int rows = fit >= static_cast<std::size_t>(ysize)
                       ? ysize
                       : std::max(blockY, static_cast<int>(fit) / blockY * blockY);
  GDALProgressFunc progress = progressOf(extra);
  void* progressData = progressDataOf(extra);
  for (int y = 0; y < ysize; y += rows) {
    const int h = std::min(rows, ysize - y);
    void* scaled = progress ? GDALCreateScaledProgress(static_cast<double>(y) / ysize,
                                                       static_cast<double>(y + h) / ysize, progress,
                                                       progressData)
                            : nullptr;
    const float* planes =
        windowPlanes({xoff, yoff + y, xsize, h}, scaled ? GDALScaledProgress : nullptr, scaled);
    GDALDestroyScaledProgress(scaled);
    if (!planes) return CE_Failure;
    copyPlanes(planes, xsize, h, bandCount, bandMap, static_cast<GByte*>(data) + y * lineSpace,
               bufType, pixelSpace, lineSpace, bandSpace);
  }
  if (progress && !progress(1.0, nullptr, progressData)) {
    CPLError(CE_Failure, CPLE_UserInterrupt, "%s: read cancelled", GetDescription());
    return CE_Failure;
  }
  return CE_None;
}

CPLErr LazyDataset::IBuildOverviews(const char* resampling, int count, const int* levels,
                                    int bandCount, const int* bands, GDALProgressFunc progress,
                                    void* progressData, CSLConstList options) {
  buildingExternal_ = true;
  const CPLErr err = GDALPamDataset::IBuildOverviews(resampling, count, levels, bandCount, bands,
                                                     progress, progressData, options);
  buildingExternal_ = false;
  return err;
}

char** LazyDataset::GetFileList() {
  CPLStringList files(GDALPamDataset::GetFileList());
  if (!descriptor_.empty() && files.FindString(descriptor_.c_str()) < 0)
    files.AddString(descriptor_.c_str());
  return files.StealList();
}

void LazyDataset::initSideFiles(const std::string& descriptor, GDALAccess access) {
  descriptor_ = descriptor;
  if (descriptor.empty()) {
    nPamFlags |= GPF_DISABLED;
    return;
  }
  eAccess = access;
  TryLoadXML();
  oOvManager.Initialize(this, descriptor.c_str());
}

int LazyBand::GetOverviewCount() {
  const int external = GDALPamRasterBand::GetOverviewCount();
  if (external > 0) return external;
  return static_cast<LazyDataset*>(poDS)->computedOverviewCount();
}

CPLErr LazyBand::IReadBlock(int bx, int by, void* data) {
  auto* ds = static_cast<LazyDataset*>(poDS);
  return guarded(ds->GetDescription(), CE_Failure, [&] {
    const CellRect window = blockWindow(this, bx, by);
    const float* planes = ds->windowPlanes(window, nullptr, nullptr);
    if (!planes) return CE_Failure;
    fillBlockAndSiblings(ds, nBand, bx, by, window, planes, data);
    return CE_None;
  });
}

CPLErr LazyBand::IRasterIO(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data,
                           int bufx, int bufy, GDALDataType bufType, GSpacing pixelSpace,
                           GSpacing lineSpace, GDALRasterIOExtraArg* extra) {
  return guarded(poDS->GetDescription(), CE_Failure, [&] {
    return readWindow(rw, xoff, yoff, xsize, ysize, data, bufx, bufy, bufType, pixelSpace,
                      lineSpace, extra);
  });
}

CPLErr LazyBand::readWindow(GDALRWFlag rw, int xoff, int yoff, int xsize, int ysize, void* data,
                            int bufx, int bufy, GDALDataType bufType, GSpacing pixelSpace,
                            GSpacing lineSpace, GDALRasterIOExtraArg* extra) {
  auto* ds = static_cast<LazyDataset*>(poDS);
  if (rw != GF_Read) return readOnly(ds);
  if (bufx != xsize || bufy != ysize || ds->windowBytes(xsize, ysize) > kMaxWindowBytes ||
      static_cast<std::int64_t>(xsize) * ysize <
          static_cast<std::int64_t>(nBlockXSize) * nBlockYSize)
    return GDALPamRasterBand::IRasterIO(rw, xoff, yoff, xsize, ysize, data, bufx, bufy, bufType,
                                        pixelSpace, lineSpace, extra);
  const float* planes =
      ds->windowPlanes({xoff, yoff, xsize, ysize}, progressOf(extra), progressDataOf(extra));
  if (!planes) return CE_Failure;
  int band = nBand;
  copyPlanes(planes, xsize, ysize, 1, &band, data, bufType, pixelSpace, lineSpace, 0);
  return CE_None;
}

GDALRasterBand* LazyBand::GetOverview(int i) {
  if (GDALPamRasterBand::GetOverviewCount() > 0) return GDALPamRasterBand::GetOverview(i);
  const auto* ds = static_cast<LazyDataset*>(poDS);
  if (i < 0 || i >= ds->computedOverviewCount()) return nullptr;
  return ds->computedOverview(i)->GetRasterBand(nBand);
}

}  // namespace vitfeat
