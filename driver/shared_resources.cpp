#include "driver/shared_resources.h"

#include <cpl_string.h>
#include <cpl_vsi.h>

#include <map>
#include <mutex>

#include "driver/feature_options.h"
#include "models/encoder_factory.h"
#include "models/sha256.h"

namespace vitfeat {

std::shared_ptr<const Encoder> acquireEncoder(const std::string& model, const EncoderOptions& o) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const Encoder>> loaded;
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
  // Loading holds the lock: two handles opening at once load the model once.
  const std::lock_guard<std::mutex> lock(mutex);
  for (const std::string& k : {key, wavelengthKey}) {
    const auto it = loaded.find(k);
    if (it == loaded.end()) continue;
    if (auto existing = it->second.lock()) {
      if (o.num_threads > 0) configureThreads(o.num_threads);
      return existing;
    }
  }
  std::shared_ptr<const Encoder> encoder(openEncoder(model, o));
  if (encoder) loaded[encoderUsesWavelengths(encoder->info().name) ? wavelengthKey : key] = encoder;
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
  const std::string digest = sha256File(path).value_or("");
  const std::lock_guard<std::mutex> lock(mutex);
  known[key] = digest;
  return digest;
}

}  // namespace vitfeat
