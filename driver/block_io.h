// Moving computed band planes into GDAL's buffers, shared by every lazy
// dataset here (features and views): a block read fills the requested band's
// block and the sibling bands' blocks (the planes were computed for all bands
// anyway, as GDAL's EEDAI driver does), and a dataset-level read copies the
// requested bands into the caller's buffer.
#pragma once

#include <gdal_priv.h>

#include "driver/tile_grid.h"

namespace vitfeat {

// The cells of block (bx, by) of `band`, clipped to the raster.
CellRect blockWindow(GDALRasterBand* band, int bx, int by);

// planes: float32 [band][y][x] for every band of ds over `window` (the block
// (bx, by) clipped to the raster). Writes band `band`'s block into `data` and
// each sibling band's block that GDAL's cache does not hold yet (when all of
// them fit in a quarter of the cache), converting to the band's data type; cells of the block
// outside the window get the band's no-data value (NaN when it has none).
void fillBlockAndSiblings(GDALDataset* ds, int band, int bx, int by, const CellRect& window,
                          const float* planes, void* data);

// Copies planes ([band][y][x] over a window of width x height) of the bands in
// bandMap into a RasterIO buffer laid out as GDAL describes it.
void copyPlanes(const float* planes, int width, int height, int bandCount, const int* bandMap,
                void* data, GDALDataType bufType, GSpacing pixelSpace, GSpacing lineSpace,
                GSpacing bandSpace);

}  // namespace vitfeat
