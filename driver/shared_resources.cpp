#include "driver/shared_resources.h"

#include <cpl_string.h>
#include <cpl_vsi.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <map>
#include <mutex>

#include "driver/blas_check.h"
#include "driver/coalescing_encoder.h"
#include "driver/feature_options.h"
#include "driver/folders.h"
#include "models/encoder_factory.h"
#include "models/sha256.h"

namespace vitfeat {

std::shared_ptr<const Encoder> acquireEncoder(const std::string& model, const EncoderOptions& o) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const Encoder>> loaded;
  // Loads under way, by the most specific key: a second open of the same model
  // waits for the first one's load; opens of other models do not wait at all.
  static std::map<std::string, std::shared_future<std::shared_ptr<const Encoder>>> loading;
  const std::string key = model + "|" + o.device + "|" + o.dtype + "|" +
                          std::to_string(o.in_chans) + "|" + std::to_string(o.input_size) + "|" +
                          std::to_string(o.patch_size) + "|" + std::to_string(o.num_prefix_tokens) +
                          "|" + o.encoder;
  // A wavelength-conditioned encoder (DOFA) is built for its wavelengths: it is
  // shared only under a key holding them. Any other encoder ignores them and
  // is shared under the key without them, so datasets whose bands have other
  // wavelengths do not load another copy.
  std::string wavelengthKey = key + "|wl";
  for (const double w : o.wavelengths) wavelengthKey += CPLSPrintf(",%.9g", w);

  std::promise<std::shared_ptr<const Encoder>> result;
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex);
    for (const std::string& k : {key, wavelengthKey}) {
      const auto it = loaded.find(k);
      if (it == loaded.end()) continue;
      if (auto existing = it->second.lock()) {
        if (o.num_threads > 0) configureThreads(o.num_threads);
        return existing;
      }
    }
    const auto pending = loading.find(wavelengthKey);
    if (pending == loading.end()) {
      loading.emplace(wavelengthKey, result.get_future().share());
      break;
    }
    const auto other = pending->second;
    lock.unlock();
    if (auto encoder = other.get()) {
      if (o.num_threads > 0) configureThreads(o.num_threads);
      return encoder;
    }
    // That load failed: this caller tries itself, so that it gets the errors.
  }

  std::shared_ptr<const Encoder> encoder;
  try {
    // Shared by every handle: their model calls are merged into larger batches.
    if (std::shared_ptr<const Encoder> opened = openEncoder(model, o))
      encoder = std::make_shared<CoalescingEncoder>(std::move(opened));
  } catch (...) {
    const std::lock_guard<std::mutex> lock(mutex);
    loading.erase(wavelengthKey);
    result.set_value(nullptr);
    throw;
  }
  if (encoder && encoder->info().device == "cpu" && encoder->info().dtype == "float32")
    warnIfSlowBlasOnce();
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (encoder)
      loaded[encoderUsesWavelengths(encoder->info().name) ? wavelengthKey : key] = encoder;
    loading.erase(wavelengthKey);
  }
  result.set_value(encoder);
  return encoder;
}

std::shared_ptr<TileCache> processTileCache(double cacheMb) {
  static std::mutex mutex;
  static std::shared_ptr<LruTileCache> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  const size_t bytes = LruTileCache::bytesFromMegabytes(cacheMb);
  if (!cache)
    cache = std::make_shared<LruTileCache>(bytes);
  else if (bytes > cache->capacity())
    cache->setCapacity(bytes);
  return cache;
}

namespace {

// Hub caches written by huggingface_hub link snapshot files to blobs/<name>,
// where the name of a git-LFS file (weights) is the SHA-256 of its content.
std::string blobDigest(const std::string& path) {
  std::error_code error;
  const std::filesystem::path real = std::filesystem::canonical(path, error);
  if (error || real.parent_path().filename() != "blobs") return {};
  const std::string name = real.filename().string();
  if (name.size() != 64) return {};
  for (const char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  return name;
}

// Where digests are remembered between processes: VITFEAT_DIGEST_CACHE, by
// default $XDG_CACHE_HOME/vitfeat/digests or ~/.cache/vitfeat/digests; NO: nowhere.
std::string digestFolder() {
  const char* configured = CPLGetConfigOption("VITFEAT_DIGEST_CACHE", nullptr);
  if (configured) return EQUAL(configured, "NO") || !configured[0] ? "" : configured;
  if (const char* xdg = CPLGetConfigOption("XDG_CACHE_HOME", nullptr); xdg && xdg[0])
    return CPLFormFilename(xdg, "vitfeat/digests", nullptr);
  if (const char* home = CPLGetConfigOption("HOME", nullptr); home && home[0])
    return CPLFormFilename(home, ".cache/vitfeat/digests", nullptr);
  return {};
}

bool isHexDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The file remembering the digest of (path, size, mtime), or "".
std::string digestFile(const std::string& key) {
  const std::string folder = digestFolder();
  if (folder.empty()) return {};
  Sha256 h;
  h.update(key.data(), key.size());
  return CPLFormFilename(folder.c_str(), Sha256::hex(h.digest()).c_str(), "sha256");
}

std::string readDigest(const std::string& file) {
  VSIStatBufL st;
  // Not remembered yet is the normal case, not an error to report.
  if (file.empty() || VSIStatL(file.c_str(), &st) != 0) return {};
  GByte* bytes = nullptr;
  vsi_l_offset size = 0;
  if (!VSIIngestFile(nullptr, file.c_str(), &bytes, &size, 1024)) return {};
  std::string text(reinterpret_cast<const char*>(bytes), static_cast<size_t>(size));
  VSIFree(bytes);
  return isHexDigest(text) ? text : std::string();
}

// Written under a temporary name and renamed, so no reader sees half a digest.
void writeDigest(const std::string& file, const std::string& digest) {
  if (file.empty()) return;
  makeFolders(CPLGetPath(file.c_str()));
  const std::string temp = file + CPLSPrintf(".tmp%ld", static_cast<long>(getpid()));
  VSILFILE* f = VSIFOpenL(temp.c_str(), "wb");
  if (!f) return;
  const bool ok = VSIFWriteL(digest.data(), 1, digest.size(), f) == digest.size();
  if (VSIFCloseL(f) != 0 || !ok || VSIRename(temp.c_str(), file.c_str()) != 0)
    VSIUnlink(temp.c_str());
}

}  // namespace

std::string fileSha256(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::string> known;
  VSIStatBufL st;
  if (VSIStatL(path.c_str(), &st) != 0) return {};
  const std::string key =
      path + "|" + std::to_string(st.st_size) + "|" + std::to_string(st.st_mtime);
  {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto it = known.find(key);
    if (it != known.end()) return it->second;
  }
  // Hashing a ViT-B takes about a second: every process of a QGIS project
  // would pay it at every open. A hub blob's name is its digest; otherwise a
  // digest computed once is remembered by path, size and modification time.
  std::string digest = blobDigest(path);
  const std::string remembered = digestFile(key);
  if (digest.empty()) digest = readDigest(remembered);
  if (digest.empty()) {
    digest = sha256File(path).value_or("");
    if (!digest.empty()) writeDigest(remembered, digest);
  }
  const std::lock_guard<std::mutex> lock(mutex);
  known[key] = digest;
  return digest;
}

}  // namespace vitfeat
