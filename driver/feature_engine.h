// The data flow of a feature read, once: the tile grid says which tiles cover
// the requested cells, the tile cache answers what it has, the rest is read
// from the source, normalised and batched through the encoder, and the
// blender writes the cells of every feature band.
#pragma once

#include <cpl_error.h>
#include <torch/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "driver/blender.h"
#include "driver/in_flight_tiles.h"
#include "driver/tile_cache.h"
#include "driver/tile_grid.h"
#include "driver/tile_reader.h"
#include "driver/tile_store.h"
#include "models/encoder.h"

namespace vitfeat {

class FeatureEngine {
 public:
  // cache (memory) and store (disk) may be null. configKey must identify
  // everything that changes a tile's features (source, model, device, dtype,
  // options), as both are shared by every dataset and, on disk, by processes.
  FeatureEngine(TileGrid grid, std::unique_ptr<TileReader> reader,
                std::shared_ptr<const Encoder> encoder, std::shared_ptr<TileCache> cache,
                std::shared_ptr<TileStore> store, std::string configKey, BlendMode blend,
                int batchSize);

  const TileGrid& grid() const { return grid_; }
  int features() const { return encoder_->info().embed_dim; }

  // Told the fraction done after each batch; returning false cancels.
  using Progress = std::function<bool(double)>;

  // Writes the window's cells band-sequentially: out[(d * height + y) * width + x],
  // features() planes. Cells without data are NaN. false + CPLError on failure
  // or cancellation (CPLE_UserInterrupt). progress may be null.
  // A tall window is computed in strips of rows, so the tiles held at once
  // are bounded by a constant, not by the window. In a
  // full-width window, the source's blocks above the tiles still to be read
  // leave GDAL's block cache after every batch (SourceRaster::releaseRows).
  bool compute(const CellRect& window, float* out, const Progress* progress = nullptr);

  // Laziness counters for this engine: tiles run through the model, and tiles
  // found in the cache.
  uint64_t tilesComputed() const { return computed_; }
  uint64_t tilesReused() const { return reused_; }
  // Of the reused tiles, those read from the persistent cache (CACHE_DIR).
  uint64_t tilesFromDisk() const { return fromDisk_; }
  // Tiles run through the model by every engine of the process (every handle,
  // every overview level): what a viewer really cost.
  static uint64_t processTilesComputed();

 private:
  // compute() for one strip: every covering tile is held until it is blended.
  // In a full-width strip, the source rows above the tiles still to be read
  // leave GDAL's block cache after every batch.
  bool computeStrip(const CellRect& window, float* out, const Progress* progress);
  // The first pixel row of the tiles covering cell row cellRow (the source's
  // height past the last cell row).
  int topPixelRow(int cellRow) const;

  // One batch's model input, and the CPLErrors raised while reading it.
  struct BatchInput {
    bool ok = false;
    torch::Tensor images;  // [B, C, H, W]
    std::vector<std::vector<unsigned char>> valid;
    std::vector<std::tuple<CPLErr, CPLErrorNum, std::string>> errors;
  };
  // Reads and normalises tiles[i] for the indices in `batch` (may run on
  // another thread: errors are captured, not raised) into `buffer`, which is
  // (re)allocated for batchSize_ tiles when it is not yet; the images of the
  // result are its first batch.size() slots on the CPU (a page-locked copy
  // for CUDA), so the buffer must not be refilled before they are used.
  BatchInput readBatch(const std::vector<TileIndex>& tiles, const std::vector<size_t>& batch,
                       torch::Tensor& buffer) const;
  // Re-raises in's errors, runs the model and stores the results in have[i],
  // for the tiles that no other handle has computed or is computing.
  bool runBatch(const std::vector<TileIndex>& tiles, const std::vector<size_t>& batch,
                BatchInput& in, std::vector<std::shared_ptr<const TileFeatures>>& have);
  // The model on the tiles at positions `rows` of batch (those not found on
  // disk meanwhile); results go to the caches and have[batch[row]].
  bool infer(const std::vector<TileIndex>& tiles, const std::vector<size_t>& batch,
             const std::vector<size_t>& rows, const BatchInput& in,
             std::vector<std::shared_ptr<const TileFeatures>>& have);
  TileKey key(const TileIndex& t) const { return {configKey_, t.ix, t.iy}; }

  const TileGrid grid_;
  const std::unique_ptr<TileReader> reader_;
  const std::shared_ptr<const Encoder> encoder_;
  const std::shared_ptr<TileCache> cache_;
  const std::shared_ptr<InFlightTiles> inFlight_;  // shared by every handle, like cache_
  const std::shared_ptr<TileStore> store_;
  const std::string configKey_;
  const BlendMode blend_;
  const int batchSize_;
  std::atomic<uint64_t> computed_{0};
  std::atomic<uint64_t> reused_{0};
  std::atomic<uint64_t> fromDisk_{0};
};

}  // namespace vitfeat
