#include "driver/views/feature_source.h"

#include <cpl_string.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "driver/file_stamps.h"
#include "pixelfunctions/random.h"

namespace vitfeat {

namespace {

// Domains whose records describe how a lazy source computes its bands.
constexpr const char* kRecordDomains[] = {"VITFEAT", "VITPCA",      "VITCLUSTER",
                                          "VITSIM",  "VITCLASSIFY", "VITUMAP"};

}  // namespace

std::unique_ptr<FeatureSource> FeatureSource::open(const std::string& driver,
                                                   const std::string& name,
                                                   const OptionMap& openOptions) {
  CPLStringList oo;
  for (const auto& [k, v] : openOptions) oo.SetNameValue(k.c_str(), v.c_str());
  GDALDataset* ds = GDALDataset::Open(name.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR, nullptr,
                                      oo.List(), nullptr);
  if (!ds) {
    const std::string why = CPLGetLastErrorMsg();
    CPLError(CE_Failure, CPLE_OpenFailed, "%s: cannot open the feature source %s: %s",
             driver.c_str(), name.c_str(), why.c_str());
    return nullptr;
  }
  std::unique_ptr<FeatureSource> s(new FeatureSource());
  s->driver_ = driver;
  s->name_ = name;
  s->openOptions_ = openOptions;
  s->dataset_.reset(ds);
  if (ds->GetRasterCount() < 1) {
    CPLError(CE_Failure, CPLE_OpenFailed, "%s: the feature source %s has no bands", driver.c_str(),
             name.c_str());
    return nullptr;
  }
  ds->GetRasterBand(1)->GetBlockSize(&s->blockWidth_, &s->blockHeight_);
  s->blockWidth_ = std::max(1, std::min(s->blockWidth_, ds->GetRasterXSize()));
  s->blockHeight_ = std::max(1, std::min(s->blockHeight_, ds->GetRasterYSize()));
  return s;
}

namespace {

// The dataset holding overview level i of every band of ds, or null when the
// bands' level-i overviews are not the bands of one dataset.
GDALDataset* overviewDataset(GDALDataset* ds, int i) {
  GDALRasterBand* first = ds->GetRasterBand(1)->GetOverview(i);
  GDALDataset* ov = first ? first->GetDataset() : nullptr;
  if (!ov || ov->GetRasterCount() != ds->GetRasterCount()) return nullptr;
  for (int b = 1; b <= ds->GetRasterCount(); ++b)
    if (ds->GetRasterBand(b)->GetOverview(i) != ov->GetRasterBand(b)) return nullptr;
  return ov;
}

}  // namespace

int FeatureSource::overviewCount() const {
  const int n = dataset_->GetRasterBand(1)->GetOverviewCount();
  for (int i = 0; i < n; ++i)
    if (!overviewDataset(dataset_.get(), i)) return i;
  return n;
}

std::unique_ptr<FeatureSource> FeatureSource::overview(int i) const {
  GDALDataset* ov = overviewDataset(dataset_.get(), i);
  if (!ov) return nullptr;
  std::unique_ptr<FeatureSource> s(new FeatureSource(*this));
  s->dataset_ = std::shared_ptr<GDALDataset>(dataset_, ov);
  ov->GetRasterBand(1)->GetBlockSize(&s->blockWidth_, &s->blockHeight_);
  s->blockWidth_ = std::max(1, std::min(s->blockWidth_, ov->GetRasterXSize()));
  s->blockHeight_ = std::max(1, std::min(s->blockHeight_, ov->GetRasterYSize()));
  return s;
}

bool FeatureSource::read(const CellRect& window, std::vector<float>& planes,
                         GDALProgressFunc progress, void* progressData) const {
  const int d = bands();
  const size_t cells = static_cast<size_t>(window.width) * window.height;
  planes.resize(cells * d);
  GDALRasterIOExtraArg extra;
  INIT_RASTERIO_EXTRA_ARG(extra);
  extra.pfnProgress = progress;
  extra.pProgressData = progressData;
  if (dataset_->RasterIO(GF_Read, window.x0, window.y0, window.width, window.height, planes.data(),
                         window.width, window.height, GDT_Float32, d, nullptr, sizeof(float),
                         sizeof(float) * window.width, static_cast<GSpacing>(sizeof(float) * cells),
                         &extra) != CE_None)
    return false;
  // Cells without data in any band become NaN in all of them.
  std::vector<char> invalid(cells, 0);
  for (int b = 0; b < d; ++b) {
    GDALRasterBand* band = dataset_->GetRasterBand(b + 1);
    int hasNoData = FALSE;
    const double noData = band->GetNoDataValue(&hasNoData);
    const float* p = planes.data() + b * cells;
    for (size_t i = 0; i < cells; ++i)
      if (std::isnan(p[i]) || (hasNoData && p[i] == static_cast<float>(noData))) invalid[i] = 1;
    const int flags = band->GetMaskFlags();
    if (!(flags & GMF_ALL_VALID) && !(flags & GMF_NODATA) && !(flags & GMF_PER_DATASET && b > 0)) {
      std::vector<GByte> mask(cells);
      if (band->GetMaskBand()->RasterIO(GF_Read, window.x0, window.y0, window.width, window.height,
                                        mask.data(), window.width, window.height, GDT_Byte, 0, 0,
                                        nullptr) != CE_None)
        return false;
      for (size_t i = 0; i < cells; ++i)
        if (mask[i] == 0) invalid[i] = 1;
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 0; i < cells; ++i)
    if (invalid[i])
      for (int b = 0; b < d; ++b) planes[b * cells + i] = nan;
  return true;
}

bool FeatureSource::sample(int64_t count, uint64_t seed, Eigen::MatrixXd& rows, int* blocksRead,
                           GDALProgressFunc progress, void* progressData) const {
  if (!progress) progress = GDALDummyProgress;
  const int d = bands();
  const int bx = (width() + blockWidth_ - 1) / blockWidth_;
  const int by = (height() + blockHeight_ - 1) / blockHeight_;
  const int64_t totalCells = static_cast<int64_t>(width()) * height();
  const bool everything = count <= 0 || count >= totalCells;
  math::Random random(seed);
  const uint64_t blocks = uint64_t(bx) * by;
  const std::vector<uint64_t> order =
      everything ? std::vector<uint64_t>() : random.permutation(blocks);

  // Valid cells of the blocks read so far, one column per cell (d x n), grown
  // by whole blocks.
  std::vector<float> kept;
  int64_t found = 0;
  std::vector<float> planes;
  *blocksRead = 0;
  for (uint64_t k = 0; k < blocks; ++k) {
    if (!everything && found >= count) break;
    const uint64_t index = everything ? k : order[k];
    const CellRect window =
        CellRect{static_cast<int>(index % bx) * blockWidth_,
                 static_cast<int>(index / bx) * blockHeight_, blockWidth_, blockHeight_}
            .intersect({0, 0, width(), height()});
    if (!read(window, planes)) return false;
    ++*blocksRead;
    const size_t cells = static_cast<size_t>(window.width) * window.height;
    for (size_t i = 0; i < cells; ++i) {
      if (std::isnan(planes[i])) continue;
      for (int b = 0; b < d; ++b) kept.push_back(planes[b * cells + i]);
      ++found;
    }
    const double done = everything ? double(k + 1) / blocks
                                   : std::min(1.0, double(found) / static_cast<double>(count));
    if (!progress(done,
                  CPLSPrintf("%s: sampled %lld cells from %d blocks", driver_.c_str(),
                             static_cast<long long>(found), *blocksRead),
                  progressData)) {
      CPLError(CE_Failure, CPLE_UserInterrupt, "%s: fit interrupted", driver_.c_str());
      return false;
    }
  }
  const int64_t n = everything ? found : std::min(found, count);
  // A uniform draw of n of the cells found, in the order they were read.
  const std::vector<uint64_t> chosen =
      n == found ? std::vector<uint64_t>() : random.choose(static_cast<uint64_t>(found), n);
  rows.resize(n, d);
  for (int64_t r = 0; r < n; ++r) {
    const size_t c = chosen.empty() ? static_cast<size_t>(r) : static_cast<size_t>(chosen[r]);
    for (int b = 0; b < d; ++b) rows(r, b) = kept[c * d + b];
  }
  return true;
}

std::string FeatureSource::signature() const {
  std::string s = name_ + "|" + std::to_string(width()) + "x" + std::to_string(height()) + "x" +
                  std::to_string(bands());
  for (const auto& [k, v] : openOptions_) s += "|" + k + "=" + v;
  s += "|" + datasetFileStamps(dataset_.get());
  for (const char* domain : kRecordDomains) {
    for (char** m = dataset_->GetMetadata(domain); m && *m; ++m) {
      // Counters change with every read.
      if (std::strstr(*m, "TILES_COMPUTED=") || std::strstr(*m, "TILES_REUSED=") ||
          std::strstr(*m, "TILES_FROM_DISK="))
        continue;
      s += std::string("|") + domain + ":" + *m;
    }
  }
  return s;
}

const char* FeatureSource::counter(const char* name) const {
  for (const char* domain : kRecordDomains)
    if (const char* v = dataset_->GetMetadataItem(name, domain)) return v;
  return nullptr;
}

}  // namespace vitfeat
