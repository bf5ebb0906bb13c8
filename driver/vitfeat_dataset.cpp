#include "driver/vitfeat_dataset.h"

#include <cpl_string.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>

#include "driver/c_boundary.h"
#include "driver/descriptor.h"
#include "driver/shared_resources.h"
#include "models/rs_encoders.h"
#include "models/runtime.h"

namespace vitfeat {

namespace {

constexpr const char* kDomain = "VITFEAT";
// Largest side of the model's input: (16384 / 16)^2 tokens are far beyond any
// ViT's attention memory already.
constexpr int kMaxInputSize = 16384;

std::string joinInts(const std::vector<int>& v) {
  std::string s;
  for (const int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

// Two neighbouring valid values of `value` for a multiple-of-`step` rule.
std::string nearestMultiples(int value, int step) {
  const int below = std::max(step, value / step * step);
  return std::to_string(below) + " or " + std::to_string(below + step);
}

std::string joinDoubles(const std::vector<double>& v) {
  std::string s;
  for (const double x : v) s += (s.empty() ? "" : ",") + std::string(CPLSPrintf("%.9g", x));
  return s;
}

// The wavelengths given to the encoder (only wavelength-conditioned ones, DOFA,
// use them) and where they come from.
struct Wavelengths {
  std::vector<double> values;  // micrometres, one per selected band; empty: none found
  std::string from;            // option | metadata | sentinel2
  std::string missing;         // with no values: why each source gave none
};

std::optional<double> positiveNumber(const char* text) {
  if (!text) return std::nullopt;
  char* end = nullptr;
  const double v = CPLStrtod(text, &end);
  while (end && *end == ' ') ++end;
  if (end == text || !end || *end != '\0' || !std::isfinite(v) || v <= 0) return std::nullopt;
  return v;
}

// A band's centre wavelength in micrometres from its metadata:
// CENTRAL_WAVELENGTH_UM in the IMAGERY domain (GDAL >= 3.10 convention), else
// ENVI's "wavelength" with "wavelength_units" (as GDAL's ENVI driver sets them
// per band). A wavelength without known units is not used.
std::optional<double> metadataWavelength(GDALRasterBand* band) {
  if (const auto um = positiveNumber(band->GetMetadataItem("CENTRAL_WAVELENGTH_UM", "IMAGERY")))
    return um;
  const auto v = positiveNumber(band->GetMetadataItem("wavelength"));
  const char* unitsItem = band->GetMetadataItem("wavelength_units");
  if (!v || !unitsItem) return std::nullopt;
  CPLString units(unitsItem);
  units.Trim().tolower();
  for (const char* u : {"micrometers", "micrometres", "micrometer", "micrometre", "microns",
                        "micron", "um", "\xc2\xb5m", "\xce\xbcm"})
    if (units == u) return *v;
  for (const char* u : {"nanometers", "nanometres", "nanometer", "nanometre", "nm"})
    if (units == u) return *v / 1000.0;
  for (const char* u : {"millimeters", "millimetres", "millimeter", "millimetre", "mm"})
    if (units == u) return *v * 1000.0;
  return std::nullopt;
}

// WAVELENGTHS when given (its count is checked by the caller), else band
// metadata when every selected band carries it, else the reference plugin's
// Sentinel-2 table by band number (band n -> B<n>) when every selected band
// number is in it, else none.
Wavelengths resolveWavelengths(const FeatureOptions& o, const SourceRaster& src) {
  Wavelengths w;
  if (!o.wavelengths.empty()) {
    w.values = o.wavelengths;
    w.from = "option";
    return w;
  }
  std::vector<double> fromMetadata, fromNumbers;
  int withoutMetadata = 0, notSentinel2 = 0;
  for (int i = 0; i < src.bandCount(); ++i) {
    if (const auto v = metadataWavelength(src.sourceBand(i)))
      fromMetadata.push_back(*v);
    else if (!withoutMetadata)
      withoutMetadata = src.bands()[i];
    if (const auto v = dofaSentinel2Wavelength(src.bands()[i]))
      fromNumbers.push_back(*v);
    else if (!notSentinel2)
      notSentinel2 = src.bands()[i];
  }
  if (!withoutMetadata) {
    w.values = std::move(fromMetadata);
    w.from = "metadata";
  } else if (!notSentinel2) {
    w.values = std::move(fromNumbers);
    w.from = "sentinel2";
  } else {
    w.missing = CPLSPrintf(
        "no WAVELENGTHS option, band %d has no wavelength metadata (CENTRAL_WAVELENGTH_UM in the "
        "IMAGERY domain, or wavelength with wavelength_units) and band %d is not a Sentinel-2 "
        "band number (1..12, taken as B1..B12)",
        withoutMetadata, notSentinel2);
  }
  return w;
}

}  // namespace

struct VitfeatDataset::Level {
  std::shared_ptr<const Encoder> encoder;
  Normalizer normalizer;
  int tile, stride, g, input;
  std::string key;  // the tile cache's configuration key
  BlendMode blend;
  int batchSize;
  double cacheMb;
  std::string cacheDir;
};

// GDAL calls these from C: no C++ exception may leave them (it would end the
// host process, e.g. QGIS). Each turns one into a CPLError.
GDALDataset* VitfeatDataset::Open(GDALOpenInfo* info) {
  try {
    return openDataset(info);
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: cannot open %s: %s", info->pszFilename,
             errorMessage(e).c_str());
  } catch (...) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: cannot open %s: unknown error",
             info->pszFilename);
  }
  return nullptr;
}

GDALDataset* VitfeatDataset::openDataset(GDALOpenInfo* info) {
  if (!namesFeatureDataset(*info)) return nullptr;
  if (info->eAccess == GA_Update && STARTS_WITH_CI(info->pszFilename, kVitfeatPrefix)) {
    CPLError(CE_Failure, CPLE_NotSupported,
             "VITFEAT: feature datasets are read-only (a .vitfeat descriptor can be opened for "
             "update, to build external overviews with gdaladdo)");
    return nullptr;
  }
  std::unique_ptr<VitfeatDataset> ds(new VitfeatDataset());
  if (STARTS_WITH_CI(info->pszFilename, kVitfeatPrefix)) {
    ds->sourceName_ = info->pszFilename + std::strlen(kVitfeatPrefix);
  } else {
    auto d = readDescriptor(info->pszFilename);
    if (!d) return nullptr;
    ds->sourceName_ = d->source;
    ds->descriptorPath_ = info->pszFilename;
    ds->userOptions_ = d->options;
  }
  for (const char* const* o = info->papszOpenOptions; o && *o; ++o) {
    char* key = nullptr;
    const char* value = CPLParseNameValue(*o, &key);
    if (key && value) ds->userOptions_[CPLString(key).toupper()] = value;
    CPLFree(key);
  }
  const auto options = parseFeatureOptions(ds->userOptions_);
  if (!options) {
    // The options came (at least partly) from a descriptor: say which one.
    if (!ds->descriptorPath_.empty()) {
      const std::string why = CPLGetLastErrorMsg();
      CPLError(CE_Failure, CPLE_IllegalArg, "%s: %s", ds->descriptorPath_.c_str(), why.c_str());
    }
    return nullptr;
  }
  const FeatureOptions& o = *options;

  ds->source_ = SourceRaster::open(ds->sourceName_, o);
  if (!ds->source_) return nullptr;
  const SourceRaster& src = *ds->source_;

  if (!o.wavelengths.empty() && static_cast<int>(o.wavelengths.size()) != src.bandCount()) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: invalid WAVELENGTHS=%s: WAVELENGTHS has %d values but %d bands are "
             "selected (BANDS=%s); give one wavelength in micrometres per selected band, in BANDS "
             "order",
             joinDoubles(o.wavelengths).c_str(), static_cast<int>(o.wavelengths.size()),
             src.bandCount(), joinInts(src.bands()).c_str());
    return nullptr;
  }
  const Wavelengths wavelengths = resolveWavelengths(o, src);

  EncoderOptions eo;
  eo.device = o.device;
  eo.dtype = o.dtype;
  eo.num_threads = o.num_threads;
  eo.in_chans = src.bandCount();
  eo.encoder = o.encoder;
  eo.wavelengths = wavelengths.values;
  const std::shared_ptr<const Encoder> encoder = acquireEncoder(o.model, eo);
  if (!encoder) {
    std::string why = CPLGetLastErrorMsg();
    // A wavelength-conditioned encoder refused the wavelengths: say where they
    // came from, or why none were found, and how to give them.
    if (CPLString(why).ifind("wavelength") != std::string::npos) {
      if (wavelengths.values.empty())
        why += ". No wavelengths were found for BANDS=" + joinInts(src.bands()) + ": " +
               wavelengths.missing;
      else
        why += ". Wavelengths used (from " + wavelengths.from +
               "): " + joinDoubles(wavelengths.values);
      why +=
          ". Give them with -oo WAVELENGTHS=0.49,0.56,... (micrometres, one per selected "
          "band, in BANDS order)";
    }
    CPLError(CE_Failure, CPLE_OpenFailed, "VITFEAT: cannot load MODEL=%s: %s", o.model.c_str(),
             why.c_str());
    return nullptr;
  }
  const EncoderInfo& model = encoder->info();
  if (model.in_chans != src.bandCount()) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: the model takes %d input bands but %d are selected (BANDS=%s)",
             model.in_chans, src.bandCount(), joinInts(src.bands()).c_str());
    return nullptr;
  }

  // Tiling: the model sees INPUT_SIZE pixels, g tokens per side; a tile covers
  // TILE_SIZE input pixels, so one cell is TILE_SIZE / g pixels.
  const int p = model.patch_size;
  const int input = o.input_size > 0 ? o.input_size : model.input_height;
  // The model's own size comes from its config (pretrained_cfg.input_size):
  // 0 would divide by zero below, an absurd one fail only when tiles are read.
  if (p < 1 || input < p || input > kMaxInputSize) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: invalid INPUT_SIZE=%d%s: must be a multiple of the patch size %d from %d "
             "to %d",
             input,
             o.input_size > 0 ? "" : " (the model's input size, from its config's pretrained_cfg)",
             p, std::max(p, 1), kMaxInputSize);
    return nullptr;
  }
  if (input % p != 0) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: invalid INPUT_SIZE=%d: must be a multiple of the patch size %d, e.g. %s",
             input, p, nearestMultiples(input, p).c_str());
    return nullptr;
  }
  if (!model.dynamic_input && input != model.input_height) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: invalid INPUT_SIZE=%d: this model takes %d x %d inputs only", input,
             model.input_height, model.input_width);
    return nullptr;
  }
  const int g = input / p;
  const int tile = o.tile_size > 0 ? o.tile_size : input;
  if (tile % g != 0) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: invalid TILE_SIZE=%d: must be a multiple of the %d cells per tile side, "
             "e.g. %s",
             tile, g, nearestMultiples(tile, g).c_str());
    return nullptr;
  }
  const int stride = o.stride > 0 ? o.stride : tile;
  // A tile's input is read whole (TILE_SIZE pixels a side, then resized to
  // INPUT_SIZE): an absurd size must fail here, naming the option, and not as
  // an allocation failure deep in LibTorch at the first read. (A batch holds
  // at most the tiles a read needs, so BATCH_SIZE alone cannot do that.)
  const double tileBytes = 4.0 * src.bandCount() *
                           (static_cast<double>(tile) * tile + static_cast<double>(input) * input);
  const double memory = static_cast<double>(CPLGetUsablePhysicalRAM());
  if (memory > 0 && tileBytes > memory / 2) {
    const double largest = std::sqrt(
        std::max(0.0, memory / 2 / (4.0 * src.bandCount()) - static_cast<double>(input) * input));
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: TILE_SIZE=%d and INPUT_SIZE=%d with %d bands need %.1f GB for one tile of "
             "input, more than half of this machine's %.1f GB; use a smaller TILE_SIZE (at most "
             "about %.0f here) or INPUT_SIZE",
             tile, input, src.bandCount(), tileBytes / 1e9, memory / 1e9, largest);
    return nullptr;
  }

  const Normalizer normalizer =
      Normalizer::create(o.normalize, src, model, o.scale, processTileStore(o.cache_dir).get());
  const std::string sha = fileSha256(model.weights);
  // Everything a tile's features depend on; the device too (results differ
  // in the last bits between CPU and GPU kernels). pixelsKey(): the source and
  // its on-the-fly warp, as the statistics estimate keys them.
  std::string key = src.pixelsKey() + "|" + model.weights + "|" + sha + "|" + model.device + "|" +
                    model.dtype + "|" + joinInts(src.bands()) + "|" + std::to_string(tile) + "|" +
                    std::to_string(stride) + "|" + std::to_string(input) + "|" +
                    normalizeModeName(o.normalize) + "|" + o.encoder;
  // DOFA's features depend on the wavelengths (any other encoder ignores them).
  if (!wavelengths.values.empty()) key += "|wl=" + joinDoubles(wavelengths.values);
  for (const ChannelTransform& t : normalizer.channels())
    key += CPLSPrintf("|%.17g,%.17g,%.9g", t.gain, t.bias, t.fill);
  if (o.extent) key += "|extent=" + extentKey(o);

  CPLStringList& r = ds->record_;
  r.SetNameValue("MODEL", o.model.c_str());
  r.SetNameValue("MODEL_ARCHITECTURE", model.name.c_str());
  r.SetNameValue("MODEL_WEIGHTS", model.weights.c_str());
  r.SetNameValue("MODEL_SHA256", sha.c_str());
  r.SetNameValue("PATCH_SIZE", CPLSPrintf("%d", p));
  r.SetNameValue("EMBED_DIM", CPLSPrintf("%d", model.embed_dim));
  r.SetNameValue("SOURCE", ds->sourceName_.c_str());
  // Name, size and modification time: what views key their fits on.
  r.SetNameValue("SOURCE_IDENTITY", src.identity().c_str());
  r.SetNameValue("BANDS", joinInts(src.bands()).c_str());
  r.SetNameValue("TILE_SIZE", CPLSPrintf("%d", tile));
  r.SetNameValue("INPUT_SIZE", CPLSPrintf("%d", input));
  r.SetNameValue("STRIDE", CPLSPrintf("%d", stride));
  r.SetNameValue("BLEND", blendModeName(o.blend));
  r.SetNameValue("NORMALIZE", normalizeModeName(o.normalize));
  for (size_t b = 0; b < normalizer.channels().size(); ++b) {
    const ChannelTransform& t = normalizer.channels()[b];
    r.SetNameValue(CPLSPrintf("NORMALIZE_BAND_%d", src.bands()[b]),
                   CPLSPrintf("gain=%.9g,bias=%.9g,fill=%.9g", t.gain, t.bias, t.fill));
    // Where the mean and standard deviation came from: the input's stored
    // statistics, or the driver's own estimate (and from how many pixels).
    if (b < normalizer.stats().size()) {
      const BandStats& stats = normalizer.stats()[b];
      r.SetNameValue(CPLSPrintf("NORMALIZE_STATISTICS_BAND_%d", src.bands()[b]),
                     stats.stored
                         ? CPLSPrintf("stored,mean=%.9g,stddev=%.9g", stats.mean, stats.stddev)
                         : CPLSPrintf("estimated,mean=%.9g,stddev=%.9g,pixels=%lld", stats.mean,
                                      stats.stddev, stats.samples));
    }
  }
  if (o.normalize == NormalizeMode::Model)
    r.SetNameValue("SCALE", o.scale > 0 ? CPLSPrintf("%.17g", o.scale) : "data type range");
  if (o.extent)
    r.SetNameValue("EXTENT", CPLSPrintf("%.17g,%.17g,%.17g,%.17g", (*o.extent)[0], (*o.extent)[1],
                                        (*o.extent)[2], (*o.extent)[3]));
  if (!o.extent_srs.empty()) r.SetNameValue("EXTENT_SRS", o.extent_srs.c_str());
  if (!o.target_srs.empty()) r.SetNameValue("TARGET_SRS", o.target_srs.c_str());
  if (o.target_res > 0) r.SetNameValue("TARGET_RES", CPLSPrintf("%.17g", o.target_res));
  if (!o.target_srs.empty() || o.target_res > 0) r.SetNameValue("RESAMPLING", o.resampling.c_str());
  r.SetNameValue("DEVICE", model.device.c_str());
  r.SetNameValue("DTYPE", model.dtype.c_str());
  r.SetNameValue("BATCH_SIZE", CPLSPrintf("%d", o.batch_size));
  r.SetNameValue("NUM_THREADS", CPLSPrintf("%d", configureThreads(o.num_threads)));
  r.SetNameValue("CACHE_MB", CPLSPrintf("%.17g", o.cache_mb));
  if (o.encoder != "auto") r.SetNameValue("ENCODER", o.encoder.c_str());
  if (encoderUsesWavelengths(model.name) && !wavelengths.values.empty()) {
    r.SetNameValue("WAVELENGTHS", joinDoubles(wavelengths.values).c_str());
    r.SetNameValue("WAVELENGTHS_FROM", wavelengths.from.c_str());
  }

  const Level level{encoder, normalizer, tile,         stride,     g,          input,
                    key,     o.blend,    o.batch_size, o.cache_mb, o.cache_dir};
  if (!o.cache_dir.empty()) r.SetNameValue("CACHE_DIR", o.cache_dir.c_str());
  // Overview levels: the same model over the input read at 1/f resolution.
  std::vector<int> factors;
  if (o.overviews) {
    factors = *o.overviews;
  } else {
    // AUTO: halve until the reduced input fits in one tile.
    for (int f = 2; (std::max(src.width(), src.height()) + f / 2 - 1) / (f / 2) > tile; f *= 2)
      factors.push_back(f);
  }
  for (const int f : factors) {
    std::unique_ptr<VitfeatDataset> ov(new VitfeatDataset());
    ov->sourceName_ = ds->sourceName_;
    ov->userOptions_ = ds->userOptions_;
    ov->record_ = ds->record_;
    ov->record_.SetNameValue("OVERVIEW_FACTOR", CPLSPrintf("%d", f));
    Level reduced = level;
    reduced.key += "|overview=" + std::to_string(f);
    if (!ov->initLevel(src.downsampled(f), reduced)) return nullptr;
    ov->initSideFiles("", GA_ReadOnly);
    ov->SetDescription(CPLSPrintf("%s (overview 1/%d)", info->pszFilename, f));
    ds->overviews_.push_back(std::move(ov));
  }
  if (!ds->initLevel(std::move(ds->source_), level)) return nullptr;
  std::string overviewFactors;
  for (const int f : factors)
    overviewFactors += (overviewFactors.empty() ? "" : ",") + std::to_string(f);
  r.SetNameValue("OVERVIEWS", factors.empty() ? "NONE" : overviewFactors.c_str());

  ds->SetDescription(info->pszFilename);
  // Statistics, histograms and gdaladdo's .ovr live beside a descriptor; a
  // VITFEAT:<source> name is not a file and has none.
  ds->initSideFiles(ds->descriptorPath_, info->eAccess);
  return ds.release();
}

bool VitfeatDataset::initLevel(std::unique_ptr<SourceRaster> source, const Level& level) {
  std::unique_ptr<TileGrid> grid;
  try {
    grid = std::make_unique<TileGrid>(source->width(), source->height(), level.tile, level.stride,
                                      level.g);
  } catch (const std::invalid_argument& e) {
    CPLError(CE_Failure, CPLE_IllegalArg, "VITFEAT: %s", e.what());
    return false;
  }
  source_ = std::move(source);
  record_.SetNameValue("CELL_SIZE", CPLSPrintf("%d", grid->cellSize()));
  record_.SetNameValue("TILES", CPLSPrintf("%dx%d", grid->tilesX(), grid->tilesY()));
  nRasterXSize = grid->cellsX();
  nRasterYSize = grid->cellsY();
  hasGeoTransform_ = source_->hasGeoTransform();
  geoTransform_ = source_->geoTransform();
  for (const int i : {1, 2, 4, 5}) geoTransform_[i] *= grid->cellSize();
  // Blocks span whole strides, so a block needs only the tiles that cover it.
  const int strideCells = grid->strideCells();
  const int block = (level.g + strideCells - 1) / strideCells * strideCells;

  auto cache = level.cacheMb > 0 ? processTileCache(level.cacheMb) : nullptr;
  auto reader = std::make_unique<TileReader>(*source_, level.normalizer, level.g, level.input);
  engine_ = std::make_unique<FeatureEngine>(std::move(*grid), std::move(reader), level.encoder,
                                            std::move(cache), processTileStore(level.cacheDir),
                                            level.key, level.blend, level.batchSize);
  for (int b = 1; b <= engine_->features(); ++b) SetBand(b, new VitfeatBand(this, b, block));
  // GDAL's whole-raster copy then reads every band of a swath at once, which
  // runs the model once per swath rather than once per band.
  GDALDataset::SetMetadataItem("INTERLEAVE", "PIXEL", "IMAGE_STRUCTURE");
  return true;
}

GDALDataset* VitfeatDataset::CreateCopy(const char* filename, GDALDataset* src, int, char**,
                                        GDALProgressFunc progress, void* progressData) try {
  auto* features = dynamic_cast<VitfeatDataset*>(src);
  if (!features) {
    CPLError(CE_Failure, CPLE_NotSupported,
             "VITFEAT: CreateCopy writes a .vitfeat descriptor of a VITFEAT dataset; %s is not "
             "one (open VITFEAT:<raster> with -oo MODEL=..., and use no band, window or "
             "resampling options in gdal_translate)",
             copySourceName(src).c_str());
    return nullptr;
  }
  if (!writeDescriptor(filename, {features->sourceName(), features->userOptions()})) return nullptr;
  if (progress) progress(1.0, nullptr, progressData);
  return GDALDataset::Open(filename, GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR);
} catch (const std::exception& e) {
  CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: cannot write %s: %s", filename, e.what());
  return nullptr;
}

CPLErr VitfeatDataset::GetGeoTransform(double* gt) {
  std::copy(geoTransform_.begin(), geoTransform_.end(), gt);
  return hasGeoTransform_ ? CE_None : CE_Failure;
}

const OGRSpatialReference* VitfeatDataset::GetSpatialRef() const { return source_->spatialRef(); }

int VitfeatDataset::CloseDependentDatasets() {
  const bool had = source_ != nullptr;
  LazyDataset::CloseDependentDatasets();
  overviews_.clear();  // they share the source's datasets
  engine_.reset();     // its tile reader reads from the source
  source_.reset();
  return had;
}

void VitfeatDataset::refreshCounters() {
  if (!engine_) return;
  record_.SetNameValue(
      "TILES_COMPUTED",
      CPLSPrintf("%llu", static_cast<unsigned long long>(engine_->tilesComputed())));
  record_.SetNameValue("TILES_REUSED",
                       CPLSPrintf("%llu", static_cast<unsigned long long>(engine_->tilesReused())));
  record_.SetNameValue(
      "TILES_FROM_DISK",
      CPLSPrintf("%llu", static_cast<unsigned long long>(engine_->tilesFromDisk())));
  uint64_t overviewTiles = 0;
  for (const auto& ov : overviews_)
    overviewTiles += static_cast<const VitfeatDataset*>(ov.get())->engine_->tilesComputed();
  record_.SetNameValue("OVERVIEW_TILES_COMPUTED",
                       CPLSPrintf("%llu", static_cast<unsigned long long>(overviewTiles)));
  record_.SetNameValue(
      "PROCESS_TILES_COMPUTED",
      CPLSPrintf("%llu", static_cast<unsigned long long>(FeatureEngine::processTilesComputed())));
}

char** VitfeatDataset::GetMetadataDomainList() {
  return BuildMetadataDomainList(LazyDataset::GetMetadataDomainList(), TRUE, kDomain, nullptr);
}

char** VitfeatDataset::GetMetadata(const char* domain) {
  if (domain && EQUAL(domain, kDomain)) {
    refreshCounters();
    return record_.List();
  }
  return LazyDataset::GetMetadata(domain);
}

const char* VitfeatDataset::GetMetadataItem(const char* name, const char* domain) {
  if (domain && EQUAL(domain, kDomain)) {
    refreshCounters();
    return record_.FetchNameValue(name);
  }
  return LazyDataset::GetMetadataItem(name, domain);
}

std::size_t VitfeatDataset::windowBytes(int width, int height) const {
  return static_cast<std::size_t>(engine_->features()) * width * height * sizeof(float);
}

const float* VitfeatDataset::windowPlanes(const CellRect& window, GDALProgressFunc pfn,
                                          void* progressData) {
  if (window == lastWindow_ && !lastPlanes_.empty()) return lastPlanes_.data();
  // Every block and window read comes here: no exception goes further.
  bool ok = false;
  try {
    lastPlanes_.resize(static_cast<size_t>(engine_->features()) * window.width * window.height);
    const FeatureEngine::Progress progress = [&](double done) {
      return !pfn || pfn(done, nullptr, progressData) != FALSE;
    };
    ok = engine_->compute(window, lastPlanes_.data(), &progress);
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: computing cells %d,%d %dx%d failed: %s",
             window.x0, window.y0, window.width, window.height, errorMessage(e).c_str());
  } catch (...) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: computing cells %d,%d %dx%d failed", window.x0,
             window.y0, window.width, window.height);
  }
  if (!ok) {
    lastPlanes_.clear();
    lastPlanes_.shrink_to_fit();
    return nullptr;
  }
  lastWindow_ = window;
  return lastPlanes_.data();
}

VitfeatBand::VitfeatBand(VitfeatDataset* ds, int band, int blockSize) {
  poDS = ds;
  nBand = band;
  eDataType = GDT_Float32;
  nBlockXSize = std::min(blockSize, ds->GetRasterXSize());
  nBlockYSize = std::min(blockSize, ds->GetRasterYSize());
  SetDescription(CPLSPrintf("feature_%04d", band));
}

double VitfeatBand::GetNoDataValue(int* success) {
  if (success) *success = TRUE;
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace vitfeat
