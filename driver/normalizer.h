// Input normalisation (NORMALIZE): per band, value -> value * gain + bias, and
// the value that replaces "no data" pixels (nodata, masked, outside the raster
// or padding) so the model never sees raw fill values such as 255.
#pragma once

#include <gdal.h>

#include <vector>

#include "driver/feature_options.h"
#include "models/encoder.h"

namespace vitfeat {

class SourceRaster;
class TileStore;

struct BandStats {
  double mean = 0;
  double stddev = 1;
  bool stored = false;  // from STATISTICS_MEAN/STDDEV rather than estimated
  long long samples = 0;
};

// For every band of the source: STATISTICS_MEAN/STATISTICS_STDDEV when both
// are present and finite; otherwise estimated over every valid, finite pixel
// of a nearest-neighbour decimated read (at most 1024 x 1024) of the tiling
// area, one pass for all such bands. An estimate is made once per process for
// the same pixels (SourceRaster::pixelsKey, band, area) and, with a store
// (CACHE_DIR), once for every process: the decimated read touches every block
// of a tiled input.
std::vector<BandStats> bandStatistics(const SourceRaster& source, TileStore* store = nullptr);

struct ChannelTransform {
  double gain = 1;
  double bias = 0;
  float fill = 0;  // normalised value used for pixels without data
};

class Normalizer {
 public:
  // mode dataset: (v - mean) / std, fill 0 (the band mean);
  // model: (v / scale - mean_m) / std_m with the encoder's mean/std extended to
  //   the band count, scale = SCALE or the data type's maximum (1 for floats), fill 0;
  // none: values as they are, fill the band mean.
  // store: where estimated statistics persist (CACHE_DIR), or nullptr.
  static Normalizer create(NormalizeMode mode, const SourceRaster& source, const EncoderInfo& info,
                           double scale, TileStore* store = nullptr);

  // values[C][n] in place; valid[C][n] 0 where a pixel has no data.
  void apply(float* values, const unsigned char* valid, size_t pixelsPerBand) const;
  const std::vector<ChannelTransform>& channels() const { return channels_; }
  const std::vector<BandStats>& stats() const { return stats_; }

 private:
  std::vector<ChannelTransform> channels_;
  std::vector<BandStats> stats_;  // dataset and none modes
};

// The value NORMALIZE=model divides by when SCALE is not given.
double dataTypeScale(GDALDataType type);

}  // namespace vitfeat
