#include "driver/normalizer.h"

#include <cpl_error.h>
#include <cpl_string.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "driver/source_raster.h"
#include "driver/tile_store.h"

namespace vitfeat {

namespace {
// The estimate reads the band on a grid of at most this many pixels a side.
constexpr int kMaxDecimatedSide = 1024;

// Estimates made in this process, by key (estimateKey): QGIS opens a layer
// once per render thread, and every view opens its feature dataset again.
std::mutex estimatesMutex;
std::unordered_map<std::string, BandStats> estimates;

// What an estimate depends on: the pixels, the band, the area and the method.
std::string estimateKey(const SourceRaster& source, int band) {
  const CellRect a = source.datasetWindow();
  return "statistics-v1|" + source.pixelsKey() + "|band=" + std::to_string(source.bands()[band]) +
         "|area=" + std::to_string(a.x0) + "," + std::to_string(a.y0) + "," +
         std::to_string(a.width) + "," + std::to_string(a.height) +
         "|side=" + std::to_string(kMaxDecimatedSide);
}

// An estimate in the persistent store: a 1 x 1 "tile" of six floats holding
// the bytes of mean, stddev and samples as doubles (bit for bit, so a reopen
// normalises exactly as the first open did).
constexpr int kStoredFloats = 6;

std::optional<BandStats> loadEstimate(TileStore* store, const TileKey& key) {
  if (!store) return std::nullopt;
  const TilePtr tile = store->load(key, TileStore::Kind::statistics);
  if (!tile || tile->g != 1 || tile->features != kStoredFloats) return std::nullopt;
  double v[3];
  std::memcpy(v, tile->grid.data(), sizeof v);
  BandStats s;
  s.mean = v[0];
  s.stddev = v[1];
  s.samples = static_cast<long long>(v[2]);
  return s;
}

void saveEstimate(TileStore* store, const TileKey& key, const BandStats& s) {
  if (!store) return;
  TileFeatures tile(1, kStoredFloats);
  const double v[3] = {s.mean, s.stddev, static_cast<double>(s.samples)};
  std::memcpy(tile.grid.data(), v, sizeof v);
  store->save(key, tile, TileStore::Kind::statistics);
}

// A regular decimated read of the whole tiling area.
BandStats estimate(const SourceRaster& source, int band) {
  BandStats s;
  const double step = std::max(
      1.0, std::max(source.width(), source.height()) / static_cast<double>(kMaxDecimatedSide));
  const CellRect area = source.datasetWindow();
  const int w = std::max(1, static_cast<int>(area.width / step));
  const int h = std::max(1, static_cast<int>(area.height / step));
  GDALRasterBand* b = source.band(band);
  std::vector<float> values(static_cast<size_t>(w) * h);
  std::vector<unsigned char> valid(values.size(), 1);
  // GDAL decimates with nearest neighbour: a regular grid of pixels.
  const bool ok =
      !area.empty() &&
      b->RasterIO(GF_Read, area.x0, area.y0, area.width, area.height, values.data(), w, h,
                  GDT_Float32, 0, 0, nullptr) == CE_None &&
      ((b->GetMaskFlags() & GMF_ALL_VALID) ||
       b->GetMaskBand()->RasterIO(GF_Read, area.x0, area.y0, area.width, area.height, valid.data(),
                                  w, h, GDT_Byte, 0, 0, nullptr) == CE_None);
  // The same statistic GDAL stores (gdalinfo -stats): every valid, finite
  // pixel, zeros included, population standard deviation. So computing and
  // storing statistics on the input changes the features only by what the
  // decimation leaves out (nothing, up to kMaxDecimatedSide pixels a side).
  double sum = 0;
  long long n = 0;
  if (ok) {
    for (size_t i = 0; i < values.size(); ++i)
      if (valid[i] && std::isfinite(values[i])) {
        sum += values[i];
        ++n;
      }
  }
  s.samples = n;
  if (n > 0) {
    s.mean = sum / n;
    double sq = 0;
    for (size_t i = 0; i < values.size(); ++i)
      if (valid[i] && std::isfinite(values[i])) sq += (values[i] - s.mean) * (values[i] - s.mean);
    s.stddev = std::sqrt(sq / n);
  }
  return s;
}

// The estimate for the band: from this process's earlier opens, from the
// store, or made now (and then kept in both).
BandStats estimateOnce(const SourceRaster& source, int band, TileStore* store) {
  const TileKey key{estimateKey(source, band), 0, 0};
  {
    std::lock_guard<std::mutex> lock(estimatesMutex);
    const auto it = estimates.find(key.config);
    if (it != estimates.end()) return it->second;
  }
  std::optional<BandStats> s = loadEstimate(store, key);
  if (!s) {
    s = estimate(source, band);
    if (s->samples > 0) saveEstimate(store, key, *s);
  }
  if (s->samples > 0) {
    std::lock_guard<std::mutex> lock(estimatesMutex);
    estimates.emplace(key.config, *s);
  }
  return *s;
}

}  // namespace

BandStats bandStatistics(const SourceRaster& source, int band, TileStore* store) {
  BandStats s;
  GDALRasterBand* src = source.sourceBand(band);
  const char* mean = src->GetMetadataItem("STATISTICS_MEAN");
  const char* stddev = src->GetMetadataItem("STATISTICS_STDDEV");
  // Stored statistics are used only when finite (GDAL computes infinite ones
  // when the band holds infinities).
  if (mean && stddev && std::isfinite(CPLAtof(mean)) && std::isfinite(CPLAtof(stddev))) {
    s.mean = CPLAtof(mean);
    s.stddev = CPLAtof(stddev);
    s.stored = true;
  } else {
    s = estimateOnce(source, band, store);
  }
  if (!(s.stddev > 0) || !std::isfinite(s.stddev)) {
    CPLDebug("VITFEAT", "band %d: standard deviation %g replaced by 1", source.bands()[band],
             s.stddev);
    s.stddev = 1;
  }
  return s;
}

double dataTypeScale(GDALDataType type) {
  switch (type) {
    case GDT_Byte:
      return 255.0;
    case GDT_UInt16:
      return 65535.0;
    case GDT_Int16:
      return 32767.0;
    case GDT_UInt32:
      return 4294967295.0;
    case GDT_Int32:
      return 2147483647.0;
    default:
      return 1.0;  // floating point data is taken to be in 0..1 already
  }
}

Normalizer Normalizer::create(NormalizeMode mode, const SourceRaster& source,
                              const EncoderInfo& info, double scale, TileStore* store) {
  Normalizer n;
  const int C = source.bandCount();
  n.channels_.resize(C);
  if (mode == NormalizeMode::Model) {
    const std::vector<float> mean = perChannel(info.mean, C), std = perChannel(info.std, C);
    for (int b = 0; b < C; ++b) {
      const double s = scale > 0 ? scale : dataTypeScale(source.dataType(b));
      const double sd = std.empty() ? 1.0 : std[b];
      const double m = mean.empty() ? 0.0 : mean[b];
      n.channels_[b] = {1.0 / (s * sd), -m / sd, 0.0f};
    }
    return n;
  }
  for (int b = 0; b < C; ++b) n.stats_.push_back(bandStatistics(source, b, store));
  for (int b = 0; b < C; ++b) {
    const BandStats& s = n.stats_[b];
    n.channels_[b] = mode == NormalizeMode::Dataset
                         ? ChannelTransform{1.0 / s.stddev, -s.mean / s.stddev, 0.0f}
                         : ChannelTransform{1.0, 0.0, static_cast<float>(s.mean)};
  }
  return n;
}

void Normalizer::apply(float* values, const unsigned char* valid, size_t n) const {
  for (size_t b = 0; b < channels_.size(); ++b) {
    const ChannelTransform& t = channels_[b];
    float* v = values + b * n;
    const unsigned char* m = valid + b * n;
    for (size_t i = 0; i < n; ++i)
      v[i] = m[i] ? static_cast<float>(v[i] * t.gain + t.bias) : t.fill;
  }
}

}  // namespace vitfeat
