// VITFEAT open options through GDALOpenEx: every invalid value fails the open
// with an error naming the option, the value and what would be valid; unknown
// options only warn; the option list advertised to GDAL matches the parser;
// and a successful open reports its effective settings.
#include <cpl_error.h>
#include <cpl_minixml.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "driver/feature_options.h"
#include "driver/register.h"
#include "models/model_folder.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"

using vitfeat::test::Dataset;
using vitfeat::test::setupGdal;

namespace {

using vitfeat::test::TempDir;

constexpr int kWidth = 50, kHeight = 40;  // source raster, 3 bands
constexpr int kEmbedDim = 32;
constexpr int kInput = 32;  // model input size: g = 32 / 16 = 2 cells per tile side
const double kSourceGt[6] = {1000, 2, 0, 5000, 0, -2};

struct Message {
  CPLErr level;
  std::string text;
};

// Collects every CPLError raised while it lives (instead of printing them).
class ErrorCollector {
 public:
  ErrorCollector() { CPLPushErrorHandlerEx(&ErrorCollector::handle, &messages_); }
  ~ErrorCollector() { CPLPopErrorHandler(); }
  ErrorCollector(const ErrorCollector&) = delete;
  ErrorCollector& operator=(const ErrorCollector&) = delete;

  // All messages of one level joined by newlines: a driver may explain a
  // failure over several errors, and the user sees them all.
  std::string joined(CPLErr level) const {
    std::string s;
    for (const Message& m : messages_)
      if (m.level == level) s += m.text + "\n";
    return s;
  }

 private:
  static void CPL_STDCALL handle(CPLErr level, CPLErrorNum, const char* text) {
    auto* out = static_cast<std::vector<Message>*>(CPLGetErrorHandlerUserData());
    out->push_back({level, text ? text : ""});
  }
  std::vector<Message> messages_;
};

// A tiny native ViT (depth 1, 32 features, 32 px input) and a 3-band Byte
// GeoTIFF, written once for the whole file.
struct Fixture {
  TempDir dir;
  std::string model = dir.file("tiny_vit");
  std::string source = dir.file("source.tif");

  Fixture() {
    setupGdal();
    auto config = vitfeat::vitConfigFromArchitecture("vit_tiny_patch16_224");
    REQUIRE(config);
    config->depth = 1;
    config->embed_dim = kEmbedDim;
    config->mlp_hidden = 128;
    config->num_heads = 2;
    config->input_height = config->input_width = kInput;
    REQUIRE(vitfeat::writeModelFolder(model, *config, vitfeat::randomViTWeights(*config, 7)));

    GDALDriverH gtiff = GDALGetDriverByName("GTiff");
    REQUIRE(gtiff);
    Dataset ds(GDALCreate(gtiff, source.c_str(), kWidth, kHeight, 3, GDT_Byte, nullptr));
    REQUIRE(ds);
    double gt[6];
    std::copy(kSourceGt, kSourceGt + 6, gt);
    GDALSetGeoTransform(ds.get(), gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(nullptr);
    OSRImportFromEPSG(srs, 32633);
    GDALSetSpatialRef(ds.get(), srs);
    OSRDestroySpatialReference(srs);
    std::vector<GByte> values(static_cast<size_t>(kWidth) * kHeight);
    for (int b = 0; b < 3; ++b) {
      for (size_t i = 0; i < values.size(); ++i)
        values[i] = static_cast<GByte>((i * 7 + b * 50) % 251);
      REQUIRE(GDALRasterIO(GDALGetRasterBand(ds.get(), b + 1), GF_Write, 0, 0, kWidth, kHeight,
                           values.data(), kWidth, kHeight, GDT_Byte, 0, 0) == CE_None);
    }
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

// Opens VITFEAT:<source> with MODEL (unless overridden or removed with an
// empty value) plus `options`.
Dataset openWith(const std::map<std::string, std::string>& options,
                 unsigned flags = GDAL_OF_RASTER) {
  const Fixture& f = fixture();
  setupGdal();
  std::map<std::string, std::string> all{{"MODEL", f.model}};
  for (const auto& [k, v] : options) all[k] = v;
  CPLStringList oo;
  for (const auto& [k, v] : all)
    if (!v.empty()) oo.SetNameValue(k.c_str(), v.c_str());
  const std::string name = "VITFEAT:" + f.source;
  return Dataset(GDALOpenEx(name.c_str(), flags, nullptr, oo.List(), nullptr));
}

// The open must fail, and the errors must contain every one of `mentions`
// (the option name, the value, and a hint of what is valid).
void requireOpenFails(const std::map<std::string, std::string>& options,
                      const std::vector<std::string>& mentions) {
  std::string failures;
  {
    ErrorCollector errors;
    Dataset ds = openWith(options);
    failures = errors.joined(CE_Failure);
    CHECK_FALSE(ds);
  }
  INFO("errors: " << failures);
  CHECK_FALSE(failures.empty());
  for (const std::string& m : mentions) {
    INFO("expected mention: " << m);
    CHECK(failures.find(m) != std::string::npos);
  }
}

std::string metadataItem(GDALDatasetH ds, const char* key) {
  const char* v = GDALGetMetadataItem(ds, key, "VITFEAT");
  return v ? v : "";
}

// SHA-256 of a file by the system's sha256sum, independent of the driver's own.
std::string systemSha256(const std::string& path) {
  std::string out;
  FILE* p = popen(("sha256sum '" + path + "'").c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out.substr(0, out.find(' '));
}

}  // namespace

TEST_CASE("driver options: MODEL is required") {
  requireOpenFails({{"MODEL", ""}}, {"MODEL", "required", "checkpoint"});
}

TEST_CASE("driver options: a MODEL that does not exist") {
  const std::string missing = fixture().dir.file("no_such_model.safetensors");
  requireOpenFails({{"MODEL", missing}}, {"MODEL", missing, "not found"});
}

TEST_CASE("driver options: invalid BANDS") {
  requireOpenFails({{"BANDS", "0"}}, {"BANDS", "0", ">= 1"});
  requireOpenFails({{"BANDS", "5"}}, {"BANDS", "5", "1..3"});
  requireOpenFails({{"BANDS", "a"}}, {"BANDS", "=a", "numbers"});
}

TEST_CASE("driver options: invalid TILE_SIZE and INPUT_SIZE") {
  // g = 2 cells per tile side with the 32 px input and patch 16.
  requireOpenFails({{"TILE_SIZE", "33"}}, {"TILE_SIZE", "33", "multiple", "32 or 34"});
  requireOpenFails({{"TILE_SIZE", "0"}}, {"TILE_SIZE", "0", ">= 1"});
  requireOpenFails({{"INPUT_SIZE", "40"}}, {"INPUT_SIZE", "40", "patch size 16", "32 or 48"});
}

TEST_CASE("driver options: invalid STRIDE") {
  // TILE_SIZE 32 / g 2 = 16 px cells: valid strides are 16 and 32.
  requireOpenFails({{"STRIDE", "20"}}, {"STRIDE", "20", "cell size 16", "16 and 32"});
  requireOpenFails({{"STRIDE", "64"}}, {"STRIDE", "64", "[16, 32]"});
  requireOpenFails({{"STRIDE", "-16"}}, {"STRIDE", "-16", ">= 1"});
}

TEST_CASE("driver options: invalid BLEND and NORMALIZE") {
  requireOpenFails(
      {{"BLEND", "bogus"}},
      {"BLEND", "bogus", "first, last, average, min, max, sum, count, center, linear, cosine"});
  requireOpenFails({{"NORMALIZE", "bogus"}}, {"NORMALIZE", "bogus", "dataset, model, none"});
}

TEST_CASE("driver options: invalid EXTENT") {
  requireOpenFails({{"EXTENT", "1,2,3"}}, {"EXTENT", "1,2,3", "minx,miny,maxx,maxy"});
  requireOpenFails({{"EXTENT", "a,b,c,d"}}, {"EXTENT", "a,b,c,d", "numbers"});
  requireOpenFails({{"EXTENT", "1050,4990,1010,5000"}},
                   {"EXTENT", "1050,4990,1010,5000", "minx < maxx"});
  // The raster spans x 1000..1100, y 4920..5000.
  requireOpenFails({{"EXTENT", "0,0,10,10"}}, {"EXTENT", "0,0,10,10", "overlap"});
}

TEST_CASE("driver options: invalid EXTENT_SRS and TARGET_RES and RESAMPLING") {
  requireOpenFails({{"EXTENT", "1000,4920,1100,5000"}, {"EXTENT_SRS", "bogus"}},
                   {"EXTENT_SRS", "bogus", "EPSG:4326"});
  requireOpenFails({{"TARGET_RES", "-1"}}, {"TARGET_RES", "-1", "positive"});
  requireOpenFails({{"TARGET_RES", "4"}, {"RESAMPLING", "bogus"}},
                   {"RESAMPLING", "bogus", "nearest, bilinear"});
}

TEST_CASE("driver options: invalid TARGET_SRS") {
  requireOpenFails({{"TARGET_SRS", "bogus"}}, {"TARGET_SRS", "bogus", "EPSG"});
}

TEST_CASE("driver options: invalid DTYPE and DEVICE") {
  requireOpenFails({{"DEVICE", "cpu"}, {"DTYPE", "float16"}},
                   {"DTYPE", "float16", "float32 or bfloat16"});
  requireOpenFails({{"DTYPE", "float64"}}, {"DTYPE", "float64", "float32, bfloat16, float16"});
  requireOpenFails({{"DEVICE", "tpu"}}, {"DEVICE", "tpu", "cuda:N"});
  // Past INT_MAX: an error, not std::stoi's out_of_range (found by fuzzing).
  requireOpenFails({{"DEVICE", "cuda:99999999999"}}, {"DEVICE", "cuda:99999999999", "cuda:N"});
  if (torch::cuda::is_available()) {
    Dataset ds = openWith({{"DEVICE", "cuda:0"}});
    CHECK(ds);
  } else {
    requireOpenFails({{"DEVICE", "cuda:0"}}, {"DEVICE", "cuda:0", "DEVICE=cpu"});
  }
}

TEST_CASE("driver options: invalid BATCH_SIZE and CACHE_MB and NUM_THREADS and SCALE") {
  requireOpenFails({{"BATCH_SIZE", "0"}}, {"BATCH_SIZE", "0", ">= 1"});
  requireOpenFails({{"BATCH_SIZE", "two"}}, {"BATCH_SIZE", "two", "integer"});
  requireOpenFails({{"CACHE_MB", "-1"}}, {"CACHE_MB", "-1", ">= 0"});
  requireOpenFails({{"NUM_THREADS", "0"}}, {"NUM_THREADS", "0", ">= 1"});
  requireOpenFails({{"SCALE", "-2"}}, {"SCALE", "-2", "positive"});
}

TEST_CASE("driver options: an unknown option warns but opens") {
  ErrorCollector errors;
  Dataset ds = openWith({{"FOO", "1"}});
  CHECK(ds);
  INFO("warnings: " << errors.joined(CE_Warning));
  CHECK(errors.joined(CE_Warning).find("FOO") != std::string::npos);
  CHECK(errors.joined(CE_Failure).empty());
}

TEST_CASE("driver options: the open option list matches the parser") {
  setupGdal();
  GDALDriverH driver = GDALGetDriverByName("VITFEAT");
  REQUIRE(driver);
  const char* xml = GDALGetMetadataItem(driver, GDAL_DMD_OPENOPTIONLIST, nullptr);
  REQUIRE(xml);
  std::unique_ptr<CPLXMLNode, decltype(&CPLDestroyXMLNode)> root(CPLParseXMLString(xml),
                                                                 &CPLDestroyXMLNode);
  REQUIRE(root);
  REQUIRE(std::string(root->pszValue) == "OpenOptionList");
  std::set<std::string> listed;
  for (const CPLXMLNode* n = root->psChild; n; n = n->psNext)
    if (n->eType == CXT_Element && std::string(n->pszValue) == "Option")
      listed.insert(CPLGetXMLValue(n, "name", ""));
  std::set<std::string> parsed;
  for (const vitfeat::OptionSpec& s : vitfeat::openOptionSpecs()) parsed.insert(s.name);
  CHECK(listed == parsed);
  for (const char* name :
       {"MODEL", "BANDS", "TILE_SIZE", "INPUT_SIZE", "STRIDE", "BLEND", "NORMALIZE", "EXTENT",
        "TARGET_SRS", "DEVICE", "DTYPE", "BATCH_SIZE", "CACHE_MB"}) {
    INFO(name);
    CHECK(listed.count(name) == 1);
  }
}

TEST_CASE("driver options: a successful open reports its effective settings") {
  const Fixture& f = fixture();
  SECTION("defaults") {
    Dataset ds = openWith({});
    REQUIRE(ds);
    // TILE_SIZE = INPUT_SIZE = 32, STRIDE = TILE_SIZE, c = 16 px.
    CHECK(metadataItem(ds.get(), "TILE_SIZE") == "32");
    CHECK(metadataItem(ds.get(), "INPUT_SIZE") == "32");
    CHECK(metadataItem(ds.get(), "STRIDE") == "32");
    CHECK(metadataItem(ds.get(), "BLEND") == "average");
    CHECK(metadataItem(ds.get(), "NORMALIZE") == "dataset");
    CHECK(GDALGetRasterXSize(ds.get()) == 4);  // ceil(50 / 16)
    CHECK(GDALGetRasterYSize(ds.get()) == 3);  // ceil(40 / 16)
    double gt[6];
    REQUIRE(GDALGetGeoTransform(ds.get(), gt) == CE_None);
    for (int i = 0; i < 6; ++i) {
      INFO("geotransform[" << i << "]");
      CHECK(gt[i] == Approx(i == 0 || i == 3 ? kSourceGt[i] : kSourceGt[i] * 16));
    }
  }
  SECTION("explicit options") {
    Dataset ds = openWith({{"TILE_SIZE", "64"},
                           {"STRIDE", "32"},
                           {"INPUT_SIZE", "32"},
                           {"BLEND", "Cosine"},
                           {"NORMALIZE", "none"}});
    REQUIRE(ds);
    CHECK(metadataItem(ds.get(), "TILE_SIZE") == "64");
    CHECK(metadataItem(ds.get(), "STRIDE") == "32");
    CHECK(metadataItem(ds.get(), "INPUT_SIZE") == "32");
    CHECK(metadataItem(ds.get(), "BLEND") == "cosine");
    CHECK(metadataItem(ds.get(), "NORMALIZE") == "none");
    // c = 64 / 2 = 32 px: ceil(50 / 32) x ceil(40 / 32) cells.
    CHECK(GDALGetRasterXSize(ds.get()) == 2);
    CHECK(GDALGetRasterYSize(ds.get()) == 2);
    double gt[6];
    REQUIRE(GDALGetGeoTransform(ds.get(), gt) == CE_None);
    for (int i = 0; i < 6; ++i) {
      INFO("geotransform[" << i << "]");
      CHECK(gt[i] == Approx(i == 0 || i == 3 ? kSourceGt[i] : kSourceGt[i] * 32));
    }
  }
  SECTION("bands and georeferencing") {
    Dataset ds = openWith({});
    REQUIRE(ds);
    REQUIRE(GDALGetRasterCount(ds.get()) == kEmbedDim);
    for (int b = 1; b <= kEmbedDim; ++b) {
      GDALRasterBandH band = GDALGetRasterBand(ds.get(), b);
      INFO("band " << b);
      CHECK(std::string(GDALGetDescription(band)) == CPLSPrintf("feature_%04d", b));
      CHECK(GDALGetRasterDataType(band) == GDT_Float32);
      int has = 0;
      CHECK(std::isnan(GDALGetRasterNoDataValue(band, &has)));
      CHECK(has);
    }
    Dataset src(GDALOpenEx(f.source.c_str(), GDAL_OF_RASTER, nullptr, nullptr, nullptr));
    REQUIRE(src);
    OGRSpatialReferenceH a = GDALGetSpatialRef(ds.get()), b = GDALGetSpatialRef(src.get());
    REQUIRE(a);
    REQUIRE(b);
    CHECK(OSRIsSame(a, b));
    // Features can be read, and they are numbers.
    std::vector<float> v(4 * 3);
    REQUIRE(GDALRasterIO(GDALGetRasterBand(ds.get(), 1), GF_Read, 0, 0, 4, 3, v.data(), 4, 3,
                         GDT_Float32, 0, 0) == CE_None);
    for (const float x : v) CHECK(std::isfinite(x));
  }
  SECTION("model checksum") {
    Dataset ds = openWith({});
    REQUIRE(ds);
    const std::string sha = metadataItem(ds.get(), "MODEL_SHA256");
    CHECK(sha.size() == 64);
    CHECK(sha.find_first_not_of("0123456789abcdef") == std::string::npos);
    const std::string expected = systemSha256(f.model + "/model.safetensors");
    if (expected.size() == 64) CHECK(sha == expected);  // sha256sum may be missing
  }
}

TEST_CASE("driver options: opening for update fails") {
  std::string failures;
  {
    ErrorCollector errors;
    Dataset ds = openWith({}, GDAL_OF_RASTER | GDAL_OF_UPDATE);
    CHECK_FALSE(ds);
    failures = errors.joined(CE_Failure);
  }
  INFO("errors: " << failures);
  CHECK(failures.find("read-only") != std::string::npos);
}

// NORMALIZE=dataset estimates the statistic GDAL stores (valid pixels, zeros
// included, population standard deviation), so running `gdalinfo -stats` on the
// input does not change the features. The fixture's raster holds zeros.
TEST_CASE("driver options: statistics stored on the input do not change the features") {
  const Fixture& f = fixture();
  TempDir dir;
  const std::string copy = dir.file("copy.tif");
  {
    Dataset src(GDALOpen(f.source.c_str(), GA_ReadOnly));
    REQUIRE(src);
    Dataset out(GDALCreateCopy(GDALGetDriverByName("GTiff"), copy.c_str(), src.get(), FALSE,
                               nullptr, nullptr, nullptr));
    REQUIRE(out);
  }
  // The statistics by hand, from the values the fixture wrote.
  const size_t n = static_cast<size_t>(kWidth) * kHeight;
  double sum = 0, zeros = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += (i * 7) % 251;
    zeros += (i * 7) % 251 == 0;
  }
  REQUIRE(zeros > 0);
  const double mean = sum / n;
  double sq = 0;
  for (size_t i = 0; i < n; ++i) sq += ((i * 7) % 251 - mean) * ((i * 7) % 251 - mean);
  const double stddev = std::sqrt(sq / n);

  auto readAll = [&](std::string& statistics) {
    CPLStringList oo;
    oo.SetNameValue("MODEL", f.model.c_str());
    const std::string name = "VITFEAT:" + copy;
    Dataset ds(GDALOpenEx(name.c_str(), GDAL_OF_RASTER, nullptr, oo.List(), nullptr));
    REQUIRE(ds);
    statistics = metadataItem(ds.get(), "NORMALIZE_STATISTICS_BAND_1");
    const int w = GDALGetRasterXSize(ds.get()), h = GDALGetRasterYSize(ds.get());
    std::vector<float> values(static_cast<size_t>(w) * h * kEmbedDim);
    REQUIRE(GDALDatasetRasterIO(ds.get(), GF_Read, 0, 0, w, h, values.data(), w, h, GDT_Float32,
                                kEmbedDim, nullptr, 0, 0, 0) == CE_None);
    return values;
  };
  std::string estimated, stored;
  const std::vector<float> before = readAll(estimated);
  CHECK_THAT(estimated, Catch::StartsWith("estimated,") && Catch::Contains("pixels=2000"));
  CHECK(CPLAtof(CSLFetchNameValueDef(CPLStringList(CSLTokenizeString2(estimated.c_str(), ",", 0)),
                                     "mean", "nan")) == Approx(mean).epsilon(1e-7));
  CHECK(CPLAtof(CSLFetchNameValueDef(CPLStringList(CSLTokenizeString2(estimated.c_str(), ",", 0)),
                                     "stddev", "nan")) == Approx(stddev).epsilon(1e-7));
  {
    // What `gdalinfo -stats` does: exact statistics, kept in copy.tif.aux.xml.
    Dataset src(GDALOpen(copy.c_str(), GA_ReadOnly));
    REQUIRE(src);
    for (int b = 1; b <= 3; ++b)
      REQUIRE(GDALComputeRasterStatistics(GDALGetRasterBand(src.get(), b), FALSE, nullptr, nullptr,
                                          nullptr, nullptr, nullptr, nullptr) == CE_None);
  }
  const std::vector<float> after = readAll(stored);
  CHECK_THAT(stored, Catch::StartsWith("stored,"));
  REQUIRE(after.size() == before.size());
  float worst = 0;
  for (size_t i = 0; i < after.size(); ++i) worst = std::max(worst, std::abs(after[i] - before[i]));
  CHECK(worst < 1e-5f);
}

TEST_CASE("driver options: nearby TARGET_RES values do not share tiles") {
  // 4 and 4.0000001 m warp the source to rasters of the same size from
  // slightly different pixels. The tile key once printed the resolution with
  // 6 decimals, so the second open reused the first's tiles from the
  // process-wide cache; it now keys the warp as SourceRaster::pixelsKey does.
  auto readAll = [](const std::string& resolution) {
    // NORMALIZE=model: the same normalisation for both (estimated statistics
    // of the two warps would differ, and tell the keys apart by themselves).
    Dataset ds = openWith({{"TARGET_RES", resolution}, {"NORMALIZE", "model"}});
    REQUIRE(ds);
    const int w = GDALGetRasterXSize(ds.get()), h = GDALGetRasterYSize(ds.get());
    std::vector<float> values(static_cast<size_t>(w) * h * kEmbedDim);
    REQUIRE(GDALDatasetRasterIO(ds.get(), GF_Read, 0, 0, w, h, values.data(), w, h, GDT_Float32,
                                kEmbedDim, nullptr, 0, 0, 0) == CE_None);
    return std::make_pair(std::stoull(metadataItem(ds.get(), "TILES_COMPUTED")),
                          std::stoull(metadataItem(ds.get(), "TILES_REUSED")));
  };
  const auto first = readAll("4");
  CHECK(first.first > 0);
  const auto again = readAll("4");  // the same options: every tile from the cache
  CHECK(again.first == 0);
  CHECK(again.second == first.first);
  const auto nearby = readAll("4.0000001");
  CHECK(nearby.second == 0);
  CHECK(nearby.first == first.first);
}
