#include "driver/tile_cache.h"

#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace vitfeat {

TileFeatures::TileFeatures(int cellsPerSide, int featureCount)
    : g(cellsPerSide), features(featureCount) {
  if (g <= 0 || features <= 0) {
    throw std::invalid_argument("TileFeatures: grid " + std::to_string(g) + " x " +
                                std::to_string(g) + " x " + std::to_string(features) +
                                " is invalid: both sizes must be > 0");
  }
  grid.assign(static_cast<std::size_t>(g) * g * features, 0.0f);
}

std::size_t TileKeyHash::operator()(const TileKey& k) const {
  // Mix the indices into the string hash (boost::hash_combine style) so that
  // neighbouring tiles of one configuration land in different buckets.
  std::size_t h = std::hash<std::string>{}(k.config);
  auto combine = [&h](std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  combine(std::hash<int>{}(k.ix));
  combine(std::hash<int>{}(k.iy));
  return h;
}

LruTileCache::LruTileCache(std::size_t capacityBytes) : capacity_(capacityBytes) {}

std::size_t LruTileCache::bytesFromMegabytes(double megabytes) {
  if (!(megabytes >= 0.0)) {  // also rejects NaN
    throw std::invalid_argument("CACHE_MB " + std::to_string(megabytes) +
                                " is invalid: it must be >= 0");
  }
  const double bytes = std::floor(megabytes * 1048576.0);
  if (bytes >= static_cast<double>(std::numeric_limits<std::size_t>::max())) {
    return std::numeric_limits<std::size_t>::max();
  }
  return static_cast<std::size_t>(bytes);
}

TilePtr LruTileCache::get(const TileKey& key) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto found = index_.find(key);
  if (found == index_.end()) {
    ++counters_.misses;
    return nullptr;
  }
  ++counters_.hits;
  // Move to the front without reallocating the node (iterators stay valid).
  lru_.splice(lru_.begin(), lru_, found->second);
  return found->second->tile;
}

bool LruTileCache::put(const TileKey& key, TilePtr tile) {
  if (!tile) throw std::invalid_argument("LruTileCache: cannot store a null tile");
  const std::size_t size = tile->bytes();

  const std::lock_guard<std::mutex> lock(mutex_);
  // A new value for a key supersedes the old one even if the new one cannot
  // be kept: never serve a value the caller has replaced.
  const auto found = index_.find(key);
  if (found != index_.end()) erase(found->second);

  if (size > capacity_) {
    ++counters_.rejected;
    return false;
  }
  evictToFit(capacity_ - size);
  lru_.push_front(Entry{key, std::move(tile), size});
  index_.emplace(key, lru_.begin());
  bytes_ += size;
  ++counters_.insertions;
  return true;
}

TileCacheStats LruTileCache::stats() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  TileCacheStats s = counters_;
  s.bytes = bytes_;
  s.entries = lru_.size();
  s.capacity = capacity_;
  return s;
}

void LruTileCache::clear() {
  const std::lock_guard<std::mutex> lock(mutex_);
  index_.clear();
  lru_.clear();
  bytes_ = 0;
}

std::size_t LruTileCache::capacity() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return capacity_;
}

void LruTileCache::setCapacity(std::size_t capacityBytes) {
  const std::lock_guard<std::mutex> lock(mutex_);
  capacity_ = capacityBytes;
  evictToFit(capacity_);
}

void LruTileCache::evictToFit(std::size_t limit) {
  while (bytes_ > limit && !lru_.empty()) {
    erase(std::prev(lru_.end()));
    ++counters_.evictions;
  }
}

void LruTileCache::erase(List::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->key);
  lru_.erase(it);
}

}  // namespace vitfeat
