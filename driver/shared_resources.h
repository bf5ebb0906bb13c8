// What every VITFEAT dataset handle in the process shares: loaded encoders
// (QGIS opens one handle per render thread; the model is loaded once) and the
// tile cache. Handles keep only their source raster and options.
#pragma once

#include <memory>
#include <string>

#include "driver/tile_cache.h"
#include "models/encoder.h"
#include "models/runtime.h"

namespace vitfeat {

// The encoder for (model, device, dtype, channels, TorchScript sizes, encoder
// family, and for DOFA the band wavelengths), loaded
// on first use and kept while any dataset holds it. CPLError + nullptr.
// A second caller for the same model waits for the first one's load; callers
// for other models do not wait for it (a download can take minutes).
std::shared_ptr<const Encoder> acquireEncoder(const std::string& model,
                                              const EncoderOptions& options);

// The process-wide tile cache, grown to at least cacheMb megabytes.
std::shared_ptr<TileCache> processTileCache(double cacheMb);

// SHA-256 (hex) of a file, remembered per (path, size, mtime). Empty on error.
std::string fileSha256(const std::string& path);

}  // namespace vitfeat
