#include "driver/tile_store.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <map>
#include <vector>

#include "driver/folders.h"
#include "models/sha256.h"

namespace vitfeat {

namespace {

// Version 2: a CRC-32 instead of version 1's SHA-256, which took a quarter of
// a read from a warm cache (perf, 768 features); version-1 files fail the
// magic check and are recomputed and replaced.
constexpr char kMagic[8] = {'V', 'I', 'T', 'T', 'I', 'L', 'E', '2'};

// The header as written (native byte order: the cache is local to a machine;
// another byte order fails the magic/size checks and is recomputed).
struct Header {
  char magic[8];
  std::uint32_t g;
  std::uint32_t features;
  std::uint32_t validBytes;
  std::uint32_t keyBytes;
  std::uint32_t crc;  // CRC-32 of this header (with crc 0), key, grid and validity bytes
  std::uint32_t reserved;
};

std::string fullKey(const TileKey& key) {
  return key.config + "|tile=" + std::to_string(key.ix) + "," + std::to_string(key.iy);
}

// A checksum against torn or damaged files, not against tampering: anyone who
// can write the folder can write a valid entry anyway. zlib's CRC-32 runs at
// about 2.5 GB/s here, ten times the SHA-256 of models/sha256.h.
std::uint32_t checksumOf(Header h, const std::string& key, const float* grid, size_t gridBytes,
                         const unsigned char* valid, size_t validBytes) {
  h.crc = 0;
  uLong crc = crc32_z(0L, Z_NULL, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(&h), sizeof h);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(key.data()), key.size());
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(grid), gridBytes);
  crc = crc32_z(crc, valid, validBytes);
  return static_cast<std::uint32_t>(crc);
}

struct FileCloser {
  void operator()(VSILFILE* f) const {
    if (f) VSIFCloseL(f);
  }
};
using File = std::unique_ptr<VSILFILE, FileCloser>;

}  // namespace

std::shared_ptr<TileStore> TileStore::open(const std::string& folder) {
  VSIStatBufL st;
  if (VSIStatL(folder.c_str(), &st) != 0 && !makeFolders(folder)) {
    CPLError(CE_Warning, CPLE_FileIO,
             "VITFEAT: cannot create the tile cache folder CACHE_DIR=%s (%s); tiles are not kept "
             "on disk",
             folder.c_str(), VSIStrerror(errno));
    return nullptr;
  }
  if (VSIStatL(folder.c_str(), &st) != 0 || !VSI_ISDIR(st.st_mode)) {
    CPLError(CE_Warning, CPLE_FileIO,
             "VITFEAT: CACHE_DIR=%s is not a folder; tiles are not kept on disk", folder.c_str());
    return nullptr;
  }
  return std::shared_ptr<TileStore>(new TileStore(folder));
}

std::string TileStore::pathOf(const TileKey& key, Kind kind) const {
  const std::string k = fullKey(key);
  Sha256 h;
  h.update(k.data(), k.size());
  const std::string hex = Sha256::hex(h.digest());
  return CPLFormFilename(CPLFormFilename(folder_.c_str(), hex.substr(0, 2).c_str(), nullptr),
                         hex.c_str(), kind == Kind::tile ? "vtile" : "vstats");
}

TilePtr TileStore::load(const TileKey& key, Kind kind) const {
  const std::string path = pathOf(key, kind);
  File f(VSIFOpenL(path.c_str(), "rb"));
  if (!f) return nullptr;
  const std::string k = fullKey(key);
  const auto reject = [&](const char* why) -> TilePtr {
    ++rejected_;
    CPLDebug("VITFEAT", "ignoring cached tile %s: %s", path.c_str(), why);
    return nullptr;
  };
  Header h;
  if (VSIFReadL(&h, sizeof h, 1, f.get()) != 1) return reject("truncated header");
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return reject("not a tile file");
  if (h.keyBytes != k.size() || h.g == 0 || h.g > 4096 || h.features == 0 || h.features > 65536 ||
      (h.validBytes != 0 && h.validBytes != h.g * h.g))
    return reject("unexpected sizes");
  std::string storedKey(h.keyBytes, '\0');
  if (VSIFReadL(&storedKey[0], 1, h.keyBytes, f.get()) != h.keyBytes || storedKey != k)
    return reject("another key");
  auto tile = std::make_shared<TileFeatures>(static_cast<int>(h.g), static_cast<int>(h.features));
  tile->valid.resize(h.validBytes);
  const size_t gridBytes = tile->grid.size() * sizeof(float);
  if (VSIFReadL(tile->grid.data(), 1, gridBytes, f.get()) != gridBytes ||
      VSIFReadL(tile->valid.data(), 1, h.validBytes, f.get()) != h.validBytes)
    return reject("truncated payload");
  char extra;
  if (VSIFReadL(&extra, 1, 1, f.get()) != 0) return reject("trailing bytes");
  if (checksumOf(h, k, tile->grid.data(), gridBytes, tile->valid.data(), tile->valid.size()) !=
      h.crc)
    return reject("checksum mismatch");
  if (kind == Kind::tile) ++loaded_;
  return tile;
}

bool TileStore::save(const TileKey& key, const TileFeatures& tile, Kind kind) {
  if (!writable_) return false;
  const std::string path = pathOf(key, kind);
  const std::string k = fullKey(key);
  Header h;
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.g = static_cast<std::uint32_t>(tile.g);
  h.features = static_cast<std::uint32_t>(tile.features);
  h.validBytes = static_cast<std::uint32_t>(tile.valid.size());
  h.keyBytes = static_cast<std::uint32_t>(k.size());
  h.reserved = 0;
  const size_t gridBytes = tile.grid.size() * sizeof(float);
  h.crc = checksumOf(h, k, tile.grid.data(), gridBytes, tile.valid.data(), tile.valid.size());

  const std::string dir = CPLGetPath(path.c_str());
  if (!makeFolders(dir)) {
    disableWrites(CPLSPrintf("cannot create %s: %s", dir.c_str(), VSIStrerror(errno)));
    return false;
  }
  // A name no other writer uses (process id + counter): the rename below
  // publishes the whole file at once.
  const std::string temp = path + CPLSPrintf(".tmp%ld.%llu", static_cast<long>(getpid()),
                                             static_cast<unsigned long long>(tempCounter_++));
  bool ok = false;
  {
    File f(VSIFOpenL(temp.c_str(), "wb"));
    ok = f && VSIFWriteL(&h, sizeof h, 1, f.get()) == 1 &&
         VSIFWriteL(k.data(), 1, k.size(), f.get()) == k.size() &&
         VSIFWriteL(tile.grid.data(), 1, gridBytes, f.get()) == gridBytes &&
         VSIFWriteL(tile.valid.data(), 1, tile.valid.size(), f.get()) == tile.valid.size();
    if (f) ok = VSIFCloseL(f.release()) == 0 && ok;  // a full disk may fail only at close
  }
  if (!ok || VSIRename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = VSIStrerror(errno);
    VSIUnlink(temp.c_str());
    disableWrites(CPLSPrintf("cannot write %s: %s", path.c_str(), why.c_str()));
    return false;
  }
  if (kind == Kind::tile) ++saved_;
  return true;
}

void TileStore::disableWrites(const std::string& why) {
  const std::lock_guard<std::mutex> lock(warnMutex_);
  if (!writable_) return;
  writable_ = false;
  CPLError(CE_Warning, CPLE_FileIO,
           "VITFEAT: the tile cache folder %s cannot be written (%s); tiles already there are "
           "still used, new ones are not kept",
           folder_.c_str(), why.c_str());
}

std::shared_ptr<TileStore> processTileStore(const std::string& given) {
  if (given.empty()) return nullptr;
  // A relative CACHE_DIR is taken from the current folder at the first open,
  // and stays that folder if the process changes its current folder later.
  std::string folder = given;
  if (CPLIsFilenameRelative(given.c_str()) && !STARTS_WITH(given.c_str(), "/vsi"))
    if (char* cwd = CPLGetCurrentDir()) {
      folder = CPLFormFilename(cwd, given.c_str(), nullptr);
      CPLFree(cwd);
    }
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<TileStore>> stores;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto it = stores.find(folder);
  if (it != stores.end()) return it->second;
  // A folder that cannot be used is remembered too (as null): its warning is
  // given once, not at every open of a dataset or of its overviews.
  return stores[folder] = TileStore::open(folder);
}

}  // namespace vitfeat
