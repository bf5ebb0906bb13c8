// The persistent tile cache (CACHE_DIR): computed tiles written to disk so
// that reopening a dataset, or another process, reuses them (the reference
// plugin's "resume", without a merge step).
//
// One file per tile, named by the SHA-256 of its full key (configuration key +
// tile position), under a two-hex-digit subfolder. A file holds a header
// (magic, sizes, the key itself, a checksum of the payload) and the payload.
// Writes go to a uniquely named temporary file that is renamed into place, so
// a reader never sees a partial tile and concurrent writers of the same tile
// each replace it whole. A file that does not check out (truncated, corrupt,
// another key, a leftover temporary) is never served: the tile is recomputed
// and rewritten. A folder that cannot be written (read-only, full) turns the
// writes off with one warning; reads go on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "driver/tile_cache.h"

namespace vitfeat {

class TileStore {
 public:
  // folder is created if needed. nullptr + one CE_Warning when it cannot be.
  static std::shared_ptr<TileStore> open(const std::string& folder);

  // What an entry holds: a tile's features (.vtile files), or values the
  // driver keeps in the same format, such as estimated input statistics
  // (.vstats files, normalizer.h), which never count as tiles.
  enum class Kind { tile, statistics };

  const std::string& folder() const { return folder_; }
  // The entry stored under key, or nullptr (absent, unreadable or corrupt).
  TilePtr load(const TileKey& key, Kind kind = Kind::tile) const;
  // Stores the entry; false when writes are off or failed (warned once).
  bool save(const TileKey& key, const TileFeatures& tile, Kind kind = Kind::tile);
  // The file that holds key's entry.
  std::string pathOf(const TileKey& key, Kind kind = Kind::tile) const;

  std::uint64_t loaded() const { return loaded_; }  // tiles only, as saved()
  std::uint64_t saved() const { return saved_; }
  std::uint64_t rejected() const { return rejected_; }  // files that did not check out

 private:
  explicit TileStore(std::string folder) : folder_(std::move(folder)) {}
  void disableWrites(const std::string& why);

  const std::string folder_;
  std::atomic<bool> writable_{true};
  mutable std::atomic<std::uint64_t> loaded_{0}, rejected_{0};
  std::atomic<std::uint64_t> saved_{0};
  std::atomic<std::uint64_t> tempCounter_{0};
  std::mutex warnMutex_;
};

// The process's store for a folder (one per folder, shared by every dataset),
// or nullptr when folder is empty or unusable (warned about once per process).
// A relative folder is made absolute from the current folder; missing folders
// are created.
std::shared_ptr<TileStore> processTileStore(const std::string& folder);

}  // namespace vitfeat
