// Tiles being computed right now, by any dataset handle of the process. A
// handle that needs a tile another one is computing waits for it instead of
// running the model on it again (QGIS renders one handle per thread, and on
// CUDA their model calls run side by side).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "driver/tile_cache.h"

namespace vitfeat {

class InFlightTiles {
 public:
  // true: nobody was computing key; the caller now is, and must call done(key).
  // false: another caller is computing it.
  bool claim(const TileKey& key);
  // key is no longer being computed (its tile is in the cache, or it failed).
  void done(const TileKey& key);
  // Returns once key is not being computed.
  void wait(const TileKey& key);

 private:
  std::mutex mutex_;
  std::condition_variable finished_;
  std::unordered_set<TileKey, TileKeyHash> computing_;
};

// The keys one caller claimed; done() for each when it goes out of scope, so
// that waiters wake up however the computation ends.
class TileClaims {
 public:
  explicit TileClaims(InFlightTiles* registry) : registry_(registry) {}
  ~TileClaims() { release(); }
  TileClaims(const TileClaims&) = delete;
  TileClaims& operator=(const TileClaims&) = delete;

  // registry_->claim(key), remembering the keys it gave this caller.
  bool claim(const TileKey& key);
  void release();

 private:
  InFlightTiles* registry_;
  std::vector<TileKey> held_;
};

// The process's registry, shared like the tile cache.
std::shared_ptr<InFlightTiles> processInFlightTiles();

}  // namespace vitfeat
