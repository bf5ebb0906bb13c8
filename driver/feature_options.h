// The VITFEAT open options: one table (name, type, default, description) that
// feeds DMD_OPENOPTIONLIST, parsing and the metadata record, so they cannot
// drift apart. Parsing validates every value and names the option, the value
// and what would be valid.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "driver/blender.h"

namespace vitfeat {

enum class NormalizeMode { Dataset, Model, None };

struct FeatureOptions {
  std::string model;       // MODEL
  std::vector<int> bands;  // BANDS, 1-based; empty: all
  int tile_size = 0;       // TILE_SIZE, input pixels; 0: INPUT_SIZE
  int input_size = 0;      // INPUT_SIZE; 0: the checkpoint's pretrained input size
  int stride = 0;          // STRIDE, input pixels; 0: TILE_SIZE
  BlendMode blend = BlendMode::Average;
  NormalizeMode normalize = NormalizeMode::Dataset;
  double scale = 0;  // SCALE for NORMALIZE=model; 0: the data type's range
  std::optional<std::array<double, 4>> extent;  // EXTENT minx,miny,maxx,maxy
  std::string extent_srs;                       // EXTENT_SRS; empty: the raster's
  std::string target_srs;                       // TARGET_SRS; empty: no reprojection
  double target_res = 0;                        // TARGET_RES; 0: GDAL's choice when warping
  std::string resampling = "bilinear";          // RESAMPLING used when warping
  std::string device = "auto";
  std::string dtype = "float32";
  int batch_size = 4;
  int num_threads = 0;
  double cache_mb = 256;
  // CACHE_DIR: folder of the persistent tile cache; empty: none. Defaults to
  // the VITFEAT_CACHE_DIR config option.
  std::string cache_dir;
  // WAVELENGTHS: micrometres, one per selected band in BANDS order (checked
  // against the band count at open); empty: from band metadata or band numbers.
  std::vector<double> wavelengths;
  std::string encoder = "auto";  // ENCODER: auto | timm | ssl4eo_moco | dofa
  // OVERVIEWS: reduction factors of the computed overview levels, ascending;
  // nullopt: AUTO (2, 4, 8, ... until the reduced input fits in one tile);
  // empty: NONE.
  std::optional<std::vector<int>> overviews;
};

struct OptionSpec {
  const char* name;
  const char* type;  // GDAL option list type: string, int, float, string-select
  const char* defaultValue;
  const char* description;
  std::vector<const char*> values;  // for string-select
};

const std::vector<OptionSpec>& openOptionSpecs();
// The <OpenOptionList> XML of any option table for DMD_OPENOPTIONLIST; the
// option named `required` (if any) is marked required.
std::string optionListXml(const std::vector<OptionSpec>& specs, const char* required);
// VITFEAT's.
std::string openOptionListXml();

// options: KEY=VALUE pairs (case-insensitive keys). Unknown keys warn
// (CE_Warning); invalid values fail with CE_Failure and nullopt. MODEL is required.
std::optional<FeatureOptions> parseFeatureOptions(
    const std::map<std::string, std::string>& options);

const char* normalizeModeName(NormalizeMode mode);

// EXTENT and EXTENT_SRS as a cache-key part, every digit kept; empty without EXTENT.
std::string extentKey(const FeatureOptions& o);

// Whether an encoder architecture (EncoderInfo::name) is conditioned on the
// band wavelengths (DOFA): WAVELENGTHS change its features and are recorded.
bool encoderUsesWavelengths(const std::string& architecture);

}  // namespace vitfeat
