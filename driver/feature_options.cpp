#include "driver/feature_options.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace vitfeat {

const std::vector<OptionSpec>& openOptionSpecs() {
  static const std::vector<OptionSpec> specs = {
      {"MODEL",
       "string",
       "",
       "Model: a safetensors or torch.save checkpoint (config.json beside it), a snapshot "
       "folder, hf-hub:timm/<name>, or a TorchScript .pt (JSON beside it). Required.",
       {}},
      {"BANDS",
       "string",
       "all but an alpha band",
       "Input bands fed to the model, 1-based, comma separated, e.g. 4,3,2",
       {}},
      {"TILE_SIZE",
       "int",
       "INPUT_SIZE",
       "Tile side in input pixels; tiles are resized (bilinear, antialiased) to INPUT_SIZE",
       {}},
      {"INPUT_SIZE",
       "int",
       "checkpoint input size",
       "Side of the image the model sees; a multiple of the patch size",
       {}},
      {"STRIDE",
       "int",
       "TILE_SIZE",
       "Step between tiles in input pixels, a multiple of the cell size; smaller than TILE_SIZE "
       "means overlap",
       {}},
      {"BLEND",
       "string-select",
       "average",
       "How overlapping tiles combine",
       {"first", "last", "average", "min", "max", "sum", "count", "center", "linear", "cosine"}},
      {"NORMALIZE",
       "string-select",
       "dataset",
       "Input normalisation",
       {"dataset", "model", "none"}},
      {"SCALE",
       "float",
       "data type range",
       "NORMALIZE=model: input values are divided by SCALE before the model's mean/std",
       {}},
      {"EXTENT", "string", "", "minx,miny,maxx,maxy of the area to compute, in EXTENT_SRS", {}},
      {"EXTENT_SRS", "string", "raster CRS", "CRS of EXTENT (any GDAL SRS definition)", {}},
      {"TARGET_SRS", "string", "", "Reproject the input on the fly to this CRS before tiling", {}},
      {"TARGET_RES",
       "float",
       "",
       "Resample the input on the fly to this pixel size (target CRS units)",
       {}},
      {"RESAMPLING",
       "string-select",
       "bilinear",
       "Resampling used by TARGET_SRS/TARGET_RES",
       {"nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average"}},
      {"DEVICE", "string", "auto", "auto, cpu, cuda or cuda:N", {}},
      {"DTYPE",
       "string-select",
       "float32",
       "Inference precision (float16: CUDA only)",
       {"float32", "bfloat16", "float16"}},
      {"BATCH_SIZE", "int", "4", "Tiles per model call", {}},
      {"NUM_THREADS", "int", "GDAL_NUM_THREADS or all cores", "CPU threads for inference", {}},
      {"CACHE_MB",
       "float",
       "256",
       "Memory for computed tiles (shared by every VITFEAT dataset)",
       {}},
      {"WAVELENGTHS",
       "string",
       "",
       "Wavelength-conditioned encoders (DOFA): centre wavelength of every selected band in "
       "micrometres, comma separated, in BANDS order, e.g. 0.49,0.56,0.665,0.832",
       {}},
      {"ENCODER",
       "string-select",
       "auto",
       "Encoder family; auto recognises it from config.json and the checkpoint's keys",
       {"auto", "timm", "ssl4eo_moco", "dofa"}},
      {"CACHE_DIR",
       "string",
       "VITFEAT_CACHE_DIR config option, else none",
       "Folder of the persistent tile cache: computed tiles are kept there and reused by later "
       "opens and other processes; NONE or empty: no persistent cache",
       {}},
      {"OVERVIEWS",
       "string",
       "AUTO",
       "Overview levels computed from the input read at reduced resolution: AUTO (factors 2, 4, "
       "8, ... until the reduced input fits in one tile), NONE, or factors such as 2,4,16",
       {}},
  };
  return specs;
}

std::string optionListXml(const std::vector<OptionSpec>& specs, const char* required) {
  std::string xml = "<OpenOptionList>";
  for (const OptionSpec& s : specs) {
    xml += "<Option name='" + std::string(s.name) + "' type='" + s.type + "' description='" +
           CPLString(s.description)
               .replaceAll("'", "&apos;")
               .replaceAll("<", "&lt;")
               .replaceAll(">", "&gt;") +
           "'";
    // A numeric option's default is listed when it is a number ("4"), not a
    // rule ("GDAL_NUM_THREADS or all cores"), which the description states.
    const bool numeric = std::string(s.type) == "int" || std::string(s.type) == "float";
    if (s.defaultValue[0] && (!numeric || CPLGetValueType(s.defaultValue) != CPL_VALUE_STRING))
      xml += std::string(" default='") + s.defaultValue + "'";
    if (required && EQUAL(s.name, required)) xml += " required='true'";
    xml += ">";
    for (const char* v : s.values) xml += std::string("<Value>") + v + "</Value>";
    xml += "</Option>";
  }
  return xml + "</OpenOptionList>";
}

std::string openOptionListXml() { return optionListXml(openOptionSpecs(), "MODEL"); }

std::string extentKey(const FeatureOptions& o) {
  if (!o.extent) return {};
  const auto& e = *o.extent;
  return CPLSPrintf("%.17g,%.17g,%.17g,%.17g,", e[0], e[1], e[2], e[3]) + o.extent_srs;
}

const char* normalizeModeName(NormalizeMode mode) {
  switch (mode) {
    case NormalizeMode::Dataset:
      return "dataset";
    case NormalizeMode::Model:
      return "model";
    case NormalizeMode::None:
      return "none";
  }
  return "?";
}

bool encoderUsesWavelengths(const std::string& architecture) {
  return STARTS_WITH_CI(architecture.c_str(), "dofa");
}

namespace {

bool fail(const std::string& key, const std::string& value, const std::string& valid) {
  CPLError(CE_Failure, CPLE_IllegalArg, "VITFEAT: invalid %s=%s: %s", key.c_str(), value.c_str(),
           valid.c_str());
  return false;
}

bool parseInt(const std::string& key, const std::string& value, int minimum, int* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || v < minimum || v > 1 << 24)
    return fail(
        key, value,
        "expected an integer >= " + std::to_string(minimum) + " and <= " + std::to_string(1 << 24));
  *out = static_cast<int>(v);
  return true;
}

bool parseDouble(const std::string& key, const std::string& value, double* out) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !std::isfinite(v) || v <= 0)
    return fail(key, value, "expected a positive number");
  *out = v;
  return true;
}

bool parseList(const std::string& key, const std::string& value, std::vector<double>* out,
               const std::string& valid = "expected comma-separated numbers") {
  const CPLStringList parts(CSLTokenizeString2(value.c_str(), ", ", 0));
  for (int i = 0; i < parts.size(); ++i) {
    char* end = nullptr;
    const double v = std::strtod(parts[i], &end);
    if (*end != '\0' || !std::isfinite(v)) return fail(key, value, valid);
    out->push_back(v);
  }
  return true;
}

bool choose(const std::string& key, const std::string& value,
            const std::vector<const char*>& allowed) {
  for (const char* a : allowed)
    if (EQUAL(value.c_str(), a)) return true;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return fail(key, value, "expected one of " + list);
}

bool checkSrs(const std::string& key, const std::string& value) {
  OGRSpatialReference srs;
  CPLPushErrorHandler(CPLQuietErrorHandler);
  const bool ok = srs.SetFromUserInput(value.c_str()) == OGRERR_NONE;
  CPLPopErrorHandler();
  return ok ||
         fail(key, value, "expected a CRS GDAL understands, e.g. EPSG:4326, a WKT or PROJ string");
}

const OptionSpec* findSpec(const std::string& key) {
  for (const OptionSpec& s : openOptionSpecs())
    if (EQUAL(s.name, key.c_str())) return &s;
  return nullptr;
}

}  // namespace

std::optional<FeatureOptions> parseFeatureOptions(
    const std::map<std::string, std::string>& options) {
  FeatureOptions o;
  o.cache_dir = CPLGetConfigOption("VITFEAT_CACHE_DIR", "");
  bool ok = true;
  for (const auto& [rawKey, value] : options) {
    const std::string key = CPLString(rawKey).toupper();
    const OptionSpec* spec = findSpec(key);
    if (!spec) {
      CPLError(CE_Warning, CPLE_NotSupported, "VITFEAT: unknown open option %s ignored",
               rawKey.c_str());
      continue;
    }
    if (!spec->values.empty() && !choose(key, value, spec->values)) {
      ok = false;
      continue;
    }
    const std::string lower = CPLString(value).tolower();
    if (key == "MODEL")
      o.model = value;
    else if (key == "BANDS") {
      // One message per bad value, whatever is wrong with it.
      std::vector<double> bands;
      bool good;
      {
        const CPLErrorStateBackuper keep;
        const CPLErrorHandlerPusher quiet(CPLQuietErrorHandler);
        good = parseList(key, value, &bands) && !bands.empty();
      }
      for (const double b : bands) {
        good = good && b >= 1 && b == std::floor(b);
        o.bands.push_back(static_cast<int>(b));
      }
      if (!good) ok = fail(key, value, "expected band numbers (integers >= 1) such as 4,3,2");
    } else if (key == "TILE_SIZE")
      ok = parseInt(key, value, 1, &o.tile_size) && ok;
    else if (key == "INPUT_SIZE")
      ok = parseInt(key, value, 1, &o.input_size) && ok;
    else if (key == "STRIDE")
      ok = parseInt(key, value, 1, &o.stride) && ok;
    else if (key == "BLEND")
      o.blend = parseBlendMode(lower);
    else if (key == "NORMALIZE")
      o.normalize = lower == "model"  ? NormalizeMode::Model
                    : lower == "none" ? NormalizeMode::None
                                      : NormalizeMode::Dataset;
    else if (key == "SCALE")
      ok = parseDouble(key, value, &o.scale) && ok;
    else if (key == "EXTENT") {
      std::vector<double> e;
      if (!parseList(key, value, &e))
        ok = false;
      else if (e.size() != 4 || e[0] >= e[2] || e[1] >= e[3])
        ok = fail(key, value, "expected minx,miny,maxx,maxy with minx < maxx and miny < maxy");
      else
        o.extent = std::array<double, 4>{e[0], e[1], e[2], e[3]};
    } else if (key == "EXTENT_SRS") {
      o.extent_srs = value;
      ok = checkSrs(key, value) && ok;
    } else if (key == "TARGET_SRS") {
      o.target_srs = value;
      ok = checkSrs(key, value) && ok;
    } else if (key == "TARGET_RES")
      ok = parseDouble(key, value, &o.target_res) && ok;
    else if (key == "RESAMPLING")
      o.resampling = lower;
    else if (key == "DEVICE")
      o.device = value;
    else if (key == "DTYPE")
      o.dtype = lower;
    else if (key == "BATCH_SIZE")
      ok = parseInt(key, value, 1, &o.batch_size) && ok;
    else if (key == "NUM_THREADS")
      ok = parseInt(key, value, 1, &o.num_threads) && ok;
    else if (key == "WAVELENGTHS") {
      std::vector<double> w;
      const std::string valid =
          "expected comma-separated wavelengths in micrometres, each a finite number > 0, one per "
          "selected band in BANDS order, e.g. 0.49,0.56,0.665,0.832";
      if (!parseList(key, value, &w, valid))
        ok = false;
      else if (w.empty() || std::any_of(w.begin(), w.end(), [](double v) { return !(v > 0); }))
        ok = fail(key, value, valid);
      else
        o.wavelengths = std::move(w);
    } else if (key == "ENCODER")
      o.encoder = lower;
    else if (key == "CACHE_MB") {
      char* end = nullptr;
      o.cache_mb = std::strtod(value.c_str(), &end);
      // More than the machine's memory is a mistake (a unit slip), not a bound.
      const double memoryMb = static_cast<double>(CPLGetUsablePhysicalRAM()) / 1048576.0;
      if (value.empty() || *end || !std::isfinite(o.cache_mb) || !(o.cache_mb >= 0))
        ok = fail(key, value, "expected a finite number of megabytes >= 0 (0 disables the cache)");
      else if (memoryMb > 0 && o.cache_mb > memoryMb)
        ok = fail(key, value,
                  CPLSPrintf("more than this machine's memory (%.0f MB); expected megabytes "
                             "from 0 (no cache) to %.0f",
                             memoryMb, memoryMb));
    } else if (key == "CACHE_DIR") {
      o.cache_dir = EQUAL(value.c_str(), "NONE") ? "" : value;
    } else if (key == "OVERVIEWS") {
      if (EQUAL(value.c_str(), "AUTO"))
        o.overviews.reset();
      else if (EQUAL(value.c_str(), "NONE"))
        o.overviews = std::vector<int>{};
      else {
        std::vector<double> f;
        const std::string valid =
            "expected AUTO, NONE or increasing integer reduction factors from 2 to 65536, e.g. "
            "2,4,8";
        if (!parseList(key, value, &f, valid)) {  // it said so
          ok = false;
          continue;
        }
        if (f.empty()) {
          ok = fail(key, value, valid);
          continue;
        }
        std::vector<int> factors;
        for (const double v : f) {
          if (v < 2 || v > 1 << 16 || v != std::floor(v) ||
              (!factors.empty() && v <= factors.back())) {
            ok = fail(key, value, valid);
            break;
          }
          factors.push_back(static_cast<int>(v));
        }
        o.overviews = factors;
      }
    }
  }
  if (ok && o.model.empty()) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: the MODEL open option is required (a checkpoint file, a snapshot folder, "
             "hf-hub:timm/<name> or a TorchScript .pt)");
    ok = false;
  }
  if (EQUAL(o.cache_dir.c_str(), "NONE")) o.cache_dir.clear();
  if (!ok) return std::nullopt;
  return o;
}

}  // namespace vitfeat
