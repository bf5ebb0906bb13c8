#include "driver/in_flight_tiles.h"

namespace vitfeat {

bool InFlightTiles::claim(const TileKey& key) {
  const std::lock_guard<std::mutex> lock(mutex_);
  return computing_.insert(key).second;
}

void InFlightTiles::done(const TileKey& key) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    computing_.erase(key);
  }
  finished_.notify_all();
}

void InFlightTiles::wait(const TileKey& key) {
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait(lock, [&] { return computing_.count(key) == 0; });
}

bool TileClaims::claim(const TileKey& key) {
  if (!registry_->claim(key)) return false;
  held_.push_back(key);
  return true;
}

void TileClaims::release() {
  for (const TileKey& key : held_) registry_->done(key);
  held_.clear();
}

std::shared_ptr<InFlightTiles> processInFlightTiles() {
  static const auto registry = std::make_shared<InFlightTiles>();
  return registry;
}

}  // namespace vitfeat
