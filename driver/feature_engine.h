// The data flow of a feature read, once: the tile grid says which tiles cover
// the requested cells, the tile cache answers what it has, the rest is read
// from the source, normalised and batched through the encoder, and the
// blender writes the cells of every feature band.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "driver/blender.h"
#include "driver/tile_cache.h"
#include "driver/tile_grid.h"
#include "driver/tile_reader.h"
#include "models/encoder.h"

namespace vitfeat {

class FeatureEngine {
 public:
  // cache may be null (no caching). configKey must identify everything that
  // changes a tile's features (source, model, options), as the cache is shared.
  FeatureEngine(TileGrid grid, std::unique_ptr<TileReader> reader,
                std::shared_ptr<const Encoder> encoder, std::shared_ptr<TileCache> cache,
                std::string configKey, BlendMode blend, int batchSize);

  const TileGrid& grid() const { return grid_; }
  int features() const { return encoder_->info().embed_dim; }

  // Writes the window's cells band-sequentially: out[(d * height + y) * width + x],
  // features() planes. Cells without data are NaN. false + CPLError on failure.
  bool compute(const CellRect& window, float* out);

  // Laziness counters for this engine: tiles run through the model, and tiles
  // found in the cache.
  uint64_t tilesComputed() const { return computed_; }
  uint64_t tilesReused() const { return reused_; }

 private:
  // Runs the model on tiles[i] for the indices in `batch`, storing results in have[i].
  bool computeBatch(const std::vector<TileIndex>& tiles, const std::vector<size_t>& batch,
                    std::vector<std::shared_ptr<const TileFeatures>>& have);
  TileKey key(const TileIndex& t) const { return {configKey_, t.ix, t.iy}; }

  const TileGrid grid_;
  const std::unique_ptr<TileReader> reader_;
  const std::shared_ptr<const Encoder> encoder_;
  const std::shared_ptr<TileCache> cache_;
  const std::string configKey_;
  const BlendMode blend_;
  const int batchSize_;
  std::atomic<uint64_t> computed_{0};
  std::atomic<uint64_t> reused_{0};
};

}  // namespace vitfeat
