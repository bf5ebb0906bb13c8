// One tile's model input: read the T x T input pixels of the tile from the
// source raster, replace "no data" and normalise, resize to the model's input
// size, and note which of the tile's cells have any data at all.
#pragma once

#include <torch/types.h>

#include <optional>
#include <vector>

#include "driver/normalizer.h"
#include "driver/source_raster.h"
#include "driver/tile_grid.h"

namespace vitfeat {

struct TileInput {
  torch::Tensor image;                   // float32 [C, inputSize, inputSize]
  std::vector<unsigned char> cellValid;  // [g][g]: 1 where the cell's footprint has data
};

class TileReader {
 public:
  TileReader(const SourceRaster& source, Normalizer normalizer, int cellsPerTile, int inputSize);

  // window: the tile's pixels (TileGrid::tilePixels). The image is written
  // into `into`, a contiguous float32 [C, inputSize, inputSize] tensor (one
  // slot of a batch, so that a batch is read in place, without a buffer per
  // tile and a copy into the batch), and returned as TileInput::image.
  // Resizing is bilinear with antialiasing when downsampling (corners not
  // aligned: pixel centres map as in GDAL and timm). nullopt + CPLError on a
  // read error.
  std::optional<TileInput> read(const PixelWindow& window, torch::Tensor into) const;

  int inputSize() const { return inputSize_; }

  const SourceRaster& source() const { return source_; }

 private:
  const SourceRaster& source_;
  const Normalizer normalizer_;
  const int cellsPerTile_;
  const int inputSize_;
};

}  // namespace vitfeat
