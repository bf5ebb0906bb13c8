#include "driver/block_io.h"

#include <limits>
#include <vector>

namespace vitfeat {

namespace {

double noDataOf(GDALRasterBand* band) {
  int has = FALSE;
  const double v = band->GetNoDataValue(&has);
  return has ? v : std::numeric_limits<double>::quiet_NaN();
}

void writeBlock(GDALRasterBand* band, const CellRect& window, const float* plane, void* dst) {
  int bw = 0, bh = 0;
  band->GetBlockSize(&bw, &bh);
  const GDALDataType type = band->GetRasterDataType();
  const int bytes = GDALGetDataTypeSizeBytes(type);
  auto* out = static_cast<GByte*>(dst);
  if (window.width < bw || window.height < bh) {
    const double fill = noDataOf(band);
    GDALCopyWords64(&fill, GDT_Float64, 0, out, type, bytes, static_cast<GPtrDiff_t>(bw) * bh);
  }
  for (int y = 0; y < window.height; ++y)
    GDALCopyWords(plane + static_cast<size_t>(y) * window.width, GDT_Float32, sizeof(float),
                  out + static_cast<size_t>(y) * bw * bytes, type, bytes, window.width);
}

}  // namespace

CellRect blockWindow(GDALRasterBand* band, int bx, int by) {
  int bw = 0, bh = 0;
  band->GetBlockSize(&bw, &bh);
  return CellRect{bx * bw, by * bh, bw, bh}.intersect({0, 0, band->GetXSize(), band->GetYSize()});
}

void fillBlockAndSiblings(GDALDataset* ds, int band, int bx, int by, const CellRect& window,
                          const float* planes, void* data) {
  const size_t plane = static_cast<size_t>(window.width) * window.height;
  writeBlock(ds->GetRasterBand(band), window, planes + (band - 1) * plane, data);
  // Siblings only when every band's block fits in a quarter of GDAL's block
  // cache: filling more would evict the blocks just filled (and others'
  // blocks) before anyone reads them. Band-by-band window reads are served
  // from the dataset's last window instead.
  int bw = 0, bh = 0;
  ds->GetRasterBand(band)->GetBlockSize(&bw, &bh);
  GIntBig bytes = 0;
  for (int b = 1; b <= ds->GetRasterCount(); ++b)
    bytes += static_cast<GIntBig>(bw) * bh *
             GDALGetDataTypeSizeBytes(ds->GetRasterBand(b)->GetRasterDataType());
  if (bytes > GDALGetCacheMax64() / 4) return;
  for (int b = 1; b <= ds->GetRasterCount(); ++b) {
    GDALRasterBand* target = ds->GetRasterBand(b);
    if (b == band) continue;
    if (GDALRasterBlock* cached = target->TryGetLockedBlockRef(bx, by)) {
      cached->DropLock();
      continue;
    }
    GDALRasterBlock* block = target->GetLockedBlockRef(bx, by, TRUE);
    if (!block) continue;
    writeBlock(target, window, planes + (b - 1) * plane, block->GetDataRef());
    block->DropLock();
  }
}

void copyPlanes(const float* planes, int width, int height, int bandCount, const int* bandMap,
                void* data, GDALDataType bufType, GSpacing pixelSpace, GSpacing lineSpace,
                GSpacing bandSpace) {
  const size_t plane = static_cast<size_t>(width) * height;
  for (int i = 0; i < bandCount; ++i) {
    const float* src = planes + (bandMap[i] - 1) * plane;
    GByte* dst = static_cast<GByte*>(data) + i * bandSpace;
    for (int y = 0; y < height; ++y)
      GDALCopyWords(src + static_cast<size_t>(y) * width, GDT_Float32, sizeof(float),
                    dst + y * lineSpace, bufType, static_cast<int>(pixelSpace), width);
  }
}

}  // namespace vitfeat
