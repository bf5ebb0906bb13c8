// Cache of computed tile features, so that overlapping reads (neighbouring GDAL
// blocks share tiles whenever STRIDE < TILE_SIZE) and repeated reads run the
// model once per tile.
//
// TileCache is the small interface the driver codes against; LruTileCache is
// the in-memory, thread-safe, byte-bounded implementation. One instance can be
// shared by every dataset handle in the process because the key carries the
// configuration key (source raster + model + tiling options); a persistent
// on-disk cache could later implement the same interface (or wrap the LRU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "driver/page_allocator.h"

namespace vitfeat {

// One tile's feature grid: g x g cells of D features, [g][g][D] row-major.
struct TileFeatures {
  int g = 0;
  int features = 0;
  // In pages of its own (page_allocator.h): tiles outlive many batches.
  std::vector<float, PageAllocator<float>> grid;
  // [g][g]: 1 where the cell's input footprint has any data; empty means all do.
  std::vector<unsigned char> valid;

  TileFeatures() = default;
  // Allocates a zeroed grid of g * g * features values.
  TileFeatures(int cellsPerSide, int featureCount);

  // Bytes charged against the cache capacity: the feature payload and the
  // validity mask. Bookkeeping (key, list and map nodes) is small next to a
  // tile (14*14*768 floats = 588 KiB).
  std::size_t bytes() const { return grid.size() * sizeof(float) + valid.size(); }
  float& at(int row, int col, int d) { return grid[index(row, col, d)]; }
  float at(int row, int col, int d) const { return grid[index(row, col, d)]; }

 private:
  std::size_t index(int row, int col, int d) const {
    return (static_cast<std::size_t>(row) * g + static_cast<std::size_t>(col)) * features +
           static_cast<std::size_t>(d);
  }
};

// Identifies a tile across every dataset in the process. `config` must change
// whenever anything that affects the features changes (source file and its
// modification state, model, weights, TILE_SIZE, STRIDE, normalisation...);
// a readable string or a hex digest both work.
struct TileKey {
  std::string config;
  int ix = 0;
  int iy = 0;

  bool operator==(const TileKey& o) const { return ix == o.ix && iy == o.iy && config == o.config; }
  bool operator!=(const TileKey& o) const { return !(*this == o); }
};

struct TileKeyHash {
  std::size_t operator()(const TileKey& k) const;
};

// A consistent snapshot of the cache's counters.
struct TileCacheStats {
  std::uint64_t hits = 0;        // get() that found the tile
  std::uint64_t misses = 0;      // get() that did not
  std::uint64_t insertions = 0;  // put() that stored (or replaced) a tile
  std::uint64_t evictions = 0;   // tiles dropped to make room (not clear() or replacement)
  std::uint64_t rejected = 0;    // put() of a tile larger than the whole capacity
  std::size_t bytes = 0;         // payload bytes currently held
  std::size_t entries = 0;       // tiles currently held
  std::size_t capacity = 0;      // byte limit
};

using TilePtr = std::shared_ptr<const TileFeatures>;

class TileCache {
 public:
  virtual ~TileCache() = default;

  // The tile, or nullptr when absent. A hit makes it the most recently used.
  virtual TilePtr get(const TileKey& key) = 0;
  // Stores a tile (replacing any previous value for the key) and returns true,
  // or returns false when it cannot be kept (larger than the capacity). Either
  // way the caller keeps its pointer and can use the tile.
  virtual bool put(const TileKey& key, TilePtr tile) = 0;
  virtual TileCacheStats stats() const = 0;
  // Drops every tile; counters other than bytes/entries are kept.
  virtual void clear() = 0;
  virtual std::size_t capacity() const = 0;
};

// Least-recently-used cache bounded by payload bytes. All operations take one
// mutex; they are O(1) apart from the evictions they cause. Tiles handed out
// stay valid after eviction (shared ownership), so readers never race evictions.
class LruTileCache final : public TileCache {
 public:
  explicit LruTileCache(std::size_t capacityBytes);
  // capacity in MiB (the CACHE_MB option): megabytes * 2^20 bytes.
  static std::size_t bytesFromMegabytes(double megabytes);

  TilePtr get(const TileKey& key) override;
  bool put(const TileKey& key, TilePtr tile) override;
  TileCacheStats stats() const override;
  void clear() override;
  std::size_t capacity() const override;

  // Changes the limit, evicting least-recently-used tiles if now over it.
  void setCapacity(std::size_t capacityBytes);

 private:
  struct Entry {
    TileKey key;
    TilePtr tile;
    std::size_t bytes;  // charged at put(), so accounting cannot drift
  };
  using List = std::list<Entry>;  // front = most recently used

  void evictToFit(std::size_t limit);  // requires mutex_ held
  void erase(List::iterator it);       // requires mutex_ held

  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::size_t bytes_ = 0;
  List lru_;
  std::unordered_map<TileKey, List::iterator, TileKeyHash> index_;
  TileCacheStats counters_;  // hits..rejected; bytes/entries/capacity filled in stats()
};

}  // namespace vitfeat
