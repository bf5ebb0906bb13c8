#include "driver/feature_engine.h"

#include <cpl_error.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace vitfeat {

FeatureEngine::FeatureEngine(TileGrid grid, std::unique_ptr<TileReader> reader,
                             std::shared_ptr<const Encoder> encoder,
                             std::shared_ptr<TileCache> cache, std::string configKey,
                             BlendMode blend, int batchSize)
    : grid_(std::move(grid)),
      reader_(std::move(reader)),
      encoder_(std::move(encoder)),
      cache_(std::move(cache)),
      configKey_(std::move(configKey)),
      blend_(blend),
      batchSize_(std::max(1, batchSize)) {}

bool FeatureEngine::computeBatch(const std::vector<TileIndex>& tiles,
                                 const std::vector<size_t>& batch,
                                 std::vector<std::shared_ptr<const TileFeatures>>& have) {
  std::vector<torch::Tensor> images;
  std::vector<std::vector<unsigned char>> valid;
  for (const size_t i : batch) {
    auto input = reader_->read(grid_.tilePixels(tiles[i]));
    if (!input) return false;
    images.push_back(std::move(input->image));
    valid.push_back(std::move(input->cellValid));
  }
  torch::Tensor out;
  try {
    out = encoder_->forward(torch::stack(images));
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: model inference failed: %s", e.what());
    return false;
  }
  const int g = grid_.cellsPerTile(), D = features();
  if (out.dim() != 4 || out.size(1) != g || out.size(2) != g || out.size(3) != D) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "VITFEAT: the model returned %s for a batch of tiles; expected [%zu, %d, %d, %d]",
             c10::str(out.sizes()).c_str(), batch.size(), g, g, D);
    return false;
  }
  for (size_t k = 0; k < batch.size(); ++k) {
    auto tile = std::make_shared<TileFeatures>(g, D);
    std::memcpy(tile->grid.data(), out[static_cast<int64_t>(k)].data_ptr<float>(),
                tile->grid.size() * sizeof(float));
    tile->valid = std::move(valid[k]);
    const size_t i = batch[k];
    if (cache_) cache_->put(key(tiles[i]), tile);
    have[i] = std::move(tile);
    ++computed_;
  }
  return true;
}

bool FeatureEngine::compute(const CellRect& window, float* out) {
  const std::vector<TileIndex> tiles = grid_.tilesCovering(window);
  std::vector<std::shared_ptr<const TileFeatures>> have(tiles.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < tiles.size(); ++i) {
    if (cache_) have[i] = cache_->get(key(tiles[i]));
    if (have[i])
      ++reused_;
    else
      missing.push_back(i);
  }
  for (size_t start = 0; start < missing.size(); start += batchSize_) {
    const std::vector<size_t> batch(missing.begin() + start,
                                    missing.begin() + std::min(missing.size(), start + batchSize_));
    if (!computeBatch(tiles, batch, have)) return false;
    CPLDebug("VITFEAT", "computed %zu/%zu tiles for cells %d,%d %dx%d",
             std::min(missing.size(), start + batchSize_), missing.size(), window.x0, window.y0,
             window.width, window.height);
  }

  Blender blender(blend_, window, features());
  for (size_t i = 0; i < tiles.size(); ++i)
    blender.add(grid_.tileCells(tiles[i]), grid_.order(tiles[i]), have[i]->grid.data());
  blender.finish(out);

  // A cell's footprint is the same pixels in every tile covering it, so any
  // covering tile can say whether it has data.
  const size_t plane = static_cast<size_t>(window.width) * window.height;
  const int g = grid_.cellsPerTile();
  for (size_t i = 0; i < tiles.size(); ++i) {
    const std::vector<unsigned char>& valid = have[i]->valid;
    if (valid.empty()) continue;
    const CellRect cells = grid_.tileCells(tiles[i]);
    const CellRect overlap = cells.intersect(window);
    for (int y = overlap.y0; y < overlap.y1(); ++y)
      for (int x = overlap.x0; x < overlap.x1(); ++x) {
        if (valid[static_cast<size_t>(y - cells.y0) * g + (x - cells.x0)]) continue;
        const size_t at = static_cast<size_t>(y - window.y0) * window.width + (x - window.x0);
        for (int d = 0; d < features(); ++d)
          out[d * plane + at] = std::numeric_limits<float>::quiet_NaN();
      }
  }
  return true;
}

}  // namespace vitfeat
