#include "driver/tile_reader.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <algorithm>

namespace vitfeat {

TileReader::TileReader(const SourceRaster& source, Normalizer normalizer, int cellsPerTile,
                       int inputSize)
    : source_(source),
      normalizer_(std::move(normalizer)),
      cellsPerTile_(cellsPerTile),
      inputSize_(inputSize) {}

std::optional<TileInput> TileReader::read(const PixelWindow& window, torch::Tensor into) const {
  const int C = source_.bandCount(), T = window.width;
  const size_t plane = static_cast<size_t>(T) * window.height;
  // Read straight into `into` when the tile needs no resizing.
  const bool resize = T != inputSize_ || window.height != inputSize_;
  torch::Tensor image =
      resize ? torch::empty({C, window.height, T}, torch::kFloat32) : std::move(into);
  std::vector<unsigned char> valid(plane * C);
  if (!source_.read(window, image.data_ptr<float>(), valid.data())) return std::nullopt;
  normalizer_.apply(image.data_ptr<float>(), valid.data(), plane);

  // A cell has data when any pixel of its footprint has data in any band.
  // A cell found to have data is not looked at again: with data everywhere,
  // one pixel per cell is read (this ran per pixel, 0.8 s of a 4096 x 4096 read).
  TileInput out;
  const int g = cellsPerTile_, c = T / g;
  out.cellValid.assign(static_cast<size_t>(g) * g, 0);
  for (int b = 0; b < C; ++b)
    for (int y = 0; y < window.height; ++y) {
      const unsigned char* row = valid.data() + b * plane + static_cast<size_t>(y) * T;
      unsigned char* cells = out.cellValid.data() + static_cast<size_t>(y / c) * g;
      for (int cx = 0; cx < g; ++cx)
        if (!cells[cx])
          cells[cx] =
              std::any_of(row + cx * c, row + (cx + 1) * c, [](unsigned char v) { return v; });
    }

  if (resize) {
    namespace F = torch::nn::functional;
    into.copy_(
        F::interpolate(image.unsqueeze(0), F::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{inputSize_, inputSize_})
                                               .mode(torch::kBilinear)
                                               .align_corners(false)
                                               .antialias(true))
            .squeeze(0));
    image = std::move(into);
  }
  out.image = std::move(image);
  return out;
}

}  // namespace vitfeat
