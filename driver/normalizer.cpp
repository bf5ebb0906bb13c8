#include "driver/normalizer.h"

#include <cpl_error.h>
#include <cpl_string.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
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
  return "statistics-v3|" + source.pixelsKey() + "|band=" + std::to_string(source.bands()[band]) +
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

// Running mean and sum of squared deviations (Welford): one pass over the
// samples, as stable as computing the mean first.
struct Moments {
  long long n = 0;
  double mean = 0, m2 = 0;
  void add(double v) {
    ++n;
    const double d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
  }
};

// Estimates for `bands` (indices into source.bands()) from one regular
// decimated pass over the tiling area: row j of the grid is the row at the
// centre of its 1/h of the area, decimated by GDAL with nearest neighbour.
// The same statistic GDAL stores (gdalinfo -stats): every valid, finite
// pixel, zeros included, population standard deviation; so storing statistics
// on the input changes the features only by what the decimation leaves out
// (nothing, up to kMaxDecimatedSide pixels a side). All bands are read row by
// row in one pass: GDAL loads every band's block of a pixel-interleaved file
// at once, and keeps the blocks, so the rows passed are released as the read
// goes down (else the whole source sat in memory at the end of the estimate).
// A failed read gives samples = 0 for every band (CPLError raised by GDAL).
std::vector<BandStats> estimate(const SourceRaster& source, const std::vector<int>& bands) {
  // A warped source is sampled on a coarse warp of the same bounds: reading
  // the full-resolution warp decimated would warp all of it first.
  std::shared_ptr<GDALDataset> coarse;
  if (source.warped() && !(coarse = source.warpedAtMost(kMaxDecimatedSide)))
    return std::vector<BandStats>(bands.size(), BandStats{});
  const auto bandOf = [&](int k) {
    return coarse ? coarse->GetRasterBand(source.bands()[k]) : source.band(k);
  };
  // The grid spans the part of the tiling area that has pixels: an EXTENT far
  // larger than the raster would otherwise leave a sample or two on it.
  const CellRect area = coarse ? CellRect{0, 0, coarse->GetRasterXSize(), coarse->GetRasterYSize()}
                               : source.datasetWindow();
  const double step =
      std::max(1.0, std::max(area.width, area.height) / static_cast<double>(kMaxDecimatedSide));
  const int w = std::max(1, static_cast<int>(area.width / step));
  const int h = std::max(1, static_cast<int>(area.height / step));
  std::vector<Moments> moments(bands.size());
  std::vector<float> values(w);
  std::vector<unsigned char> valid(w);
  int released = 0;  // tiling rows above this were released
  for (int j = 0; !area.empty() && j < h; ++j) {
    const int row =
        area.y0 + std::min(area.height - 1, static_cast<int>((j + 0.5) * area.height / h));
    for (size_t k = 0; k < bands.size(); ++k) {
      GDALRasterBand* b = bandOf(bands[k]);
      const bool allValid = b->GetMaskFlags() & GMF_ALL_VALID;
      if (b->RasterIO(GF_Read, area.x0, row, area.width, 1, values.data(), w, 1, GDT_Float32, 0, 0,
                      nullptr) != CE_None ||
          (!allValid &&
           b->GetMaskBand()->RasterIO(GF_Read, area.x0, row, area.width, 1, valid.data(), w, 1,
                                      GDT_Byte, 0, 0, nullptr) != CE_None))
        return std::vector<BandStats>(bands.size(), BandStats{});
      for (int i = 0; i < w; ++i)
        if ((allValid || valid[i]) && std::isfinite(values[i])) moments[k].add(values[i]);
    }
    // In tiling rows (conservative when the area is clipped to the dataset).
    if (!coarse) source.releaseRows(released, row - area.y0);
    released = row - area.y0;
  }
  std::vector<BandStats> out(bands.size());
  for (size_t k = 0; k < bands.size(); ++k) {
    out[k].samples = moments[k].n;
    if (moments[k].n > 0) {
      out[k].mean = moments[k].mean;
      out[k].stddev = std::sqrt(moments[k].m2 / moments[k].n);
    }
  }
  return out;
}

// An estimate made before: by this process, or kept in the store.
std::optional<BandStats> knownEstimate(const TileKey& key, TileStore* store) {
  {
    std::lock_guard<std::mutex> lock(estimatesMutex);
    const auto it = estimates.find(key.config);
    if (it != estimates.end()) return it->second;
  }
  std::optional<BandStats> s = loadEstimate(store, key);
  if (s) {
    std::lock_guard<std::mutex> lock(estimatesMutex);
    estimates.emplace(key.config, *s);
  }
  return s;
}

void rememberEstimate(const TileKey& key, const BandStats& s, TileStore* store) {
  if (s.samples <= 0) return;
  saveEstimate(store, key, s);
  std::lock_guard<std::mutex> lock(estimatesMutex);
  estimates.emplace(key.config, s);
}

}  // namespace

std::vector<BandStats> bandStatistics(const SourceRaster& source, TileStore* store) {
  std::vector<BandStats> out(source.bandCount());
  std::vector<int> missing;  // bands neither stored nor estimated before
  for (int b = 0; b < source.bandCount(); ++b) {
    GDALRasterBand* src = source.sourceBand(b);
    const char* mean = src->GetMetadataItem("STATISTICS_MEAN");
    const char* stddev = src->GetMetadataItem("STATISTICS_STDDEV");
    // Stored statistics are used only when finite (GDAL computes infinite ones
    // when the band holds infinities).
    if (mean && stddev && std::isfinite(CPLAtof(mean)) && std::isfinite(CPLAtof(stddev))) {
      out[b].mean = CPLAtof(mean);
      out[b].stddev = CPLAtof(stddev);
      out[b].stored = true;
    } else if (const auto known = knownEstimate({estimateKey(source, b), 0, 0}, store)) {
      out[b] = *known;
    } else {
      missing.push_back(b);
    }
  }
  if (!missing.empty()) {
    const std::vector<BandStats> fresh = estimate(source, missing);
    source.releaseRows(0, source.height());  // the tiles are read from the top again
    for (size_t k = 0; k < missing.size(); ++k) {
      out[missing[k]] = fresh[k];
      rememberEstimate({estimateKey(source, missing[k]), 0, 0}, fresh[k], store);
      if (fresh[k].samples == 0)
        CPLError(CE_Warning, CPLE_AppDefined,
                 "VITFEAT: band %d of %s has no valid, finite pixel in the area read (no data, "
                 "NaN, or values beyond float32's range): it is normalised with mean 0 and "
                 "standard deviation 1, and its pixels count as no data",
                 source.bands()[missing[k]], source.name().c_str());
    }
  }
  for (int b = 0; b < source.bandCount(); ++b) {
    BandStats& s = out[b];
    if (!(s.stddev > 0) || !std::isfinite(s.stddev)) {
      CPLDebug("VITFEAT", "band %d: standard deviation %g replaced by 1", source.bands()[b],
               s.stddev);
      s.stddev = 1;
    }
  }
  return out;
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
  n.stats_ = bandStatistics(source, store);
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
