#include "driver/source_raster.h"

#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal_utils.h>

#include <algorithm>
#include <cmath>

namespace vitfeat {

namespace {

std::shared_ptr<GDALDataset> warp(GDALDataset* src, const FeatureOptions& o) {
  CPLStringList args;
  args.AddString("-of");
  args.AddString("VRT");
  args.AddString("-r");
  args.AddString(o.resampling.c_str());
  // An alpha band marks pixels outside the source as "no data" (it becomes the mask band).
  args.AddString("-dstalpha");
  if (!o.target_srs.empty()) {
    args.AddString("-t_srs");
    args.AddString(o.target_srs.c_str());
  }
  if (o.target_res > 0) {
    args.AddString("-tr");
    args.AddString(CPLSPrintf("%.17g", o.target_res));
    args.AddString(CPLSPrintf("%.17g", o.target_res));
  }
  if (o.extent) {
    args.AddString("-te");
    for (const double v : *o.extent) args.AddString(CPLSPrintf("%.17g", v));
    if (!o.extent_srs.empty()) {
      args.AddString("-te_srs");
      args.AddString(o.extent_srs.c_str());
    }
  }
  GDALWarpAppOptions* opts = GDALWarpAppOptionsNew(args.List(), nullptr);
  if (!opts) return nullptr;
  GDALDatasetH srcH = GDALDataset::ToHandle(src);
  int usageError = FALSE;
  GDALDatasetH out = GDALWarp("", nullptr, 1, &srcH, opts, &usageError);
  GDALWarpAppOptionsFree(opts);
  return std::shared_ptr<GDALDataset>(GDALDataset::FromHandle(out));
}

// EXTENT (in EXTENT_SRS or the raster's CRS) as a pixel window of ds, snapped
// outward to whole pixels.
bool extentWindow(GDALDataset* ds, const FeatureOptions& o, int* xoff, int* yoff, int* w, int* h) {
  double gt[6];
  if (ds->GetGeoTransform(gt) != CE_None || gt[2] != 0 || gt[4] != 0) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "VITFEAT: EXTENT needs a north-up geotransform on %s (use TARGET_SRS to warp it)",
             ds->GetDescription());
    return false;
  }
  std::array<double, 4> e = *o.extent;
  if (!o.extent_srs.empty()) {
    OGRSpatialReference from;
    from.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    const OGRSpatialReference* to = ds->GetSpatialRef();
    if (from.SetFromUserInput(o.extent_srs.c_str()) != OGRERR_NONE || !to) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "VITFEAT: invalid EXTENT_SRS=%s (or the raster has no CRS): expected e.g. "
               "EPSG:4326 or a WKT/PROJ string",
               o.extent_srs.c_str());
      return false;
    }
    std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&from, to));
    double out[4];
    if (!ct ||
        !ct->TransformBounds(e[0], e[1], e[2], e[3], &out[0], &out[1], &out[2], &out[3], 21)) {
      CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: cannot transform EXTENT from %s",
               o.extent_srs.c_str());
      return false;
    }
    e = {out[0], out[1], out[2], out[3]};
  }
  // Pixel columns/rows covering the extent; a small tolerance keeps exact
  // pixel edges from adding a sliver.
  const double eps = 1e-6;
  const double px0 = (e[0] - gt[0]) / gt[1], px1 = (e[2] - gt[0]) / gt[1];
  const double py0 = (e[3] - gt[3]) / gt[5], py1 = (e[1] - gt[3]) / gt[5];
  const double x0 = std::floor(std::min(px0, px1) + eps), x1 = std::ceil(std::max(px0, px1) - eps);
  const double y0 = std::floor(std::min(py0, py1) + eps), y1 = std::ceil(std::max(py0, py1) - eps);
  if (x1 <= 0 || y1 <= 0 || x0 >= ds->GetRasterXSize() || y0 >= ds->GetRasterYSize()) {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "VITFEAT: EXTENT=%.17g,%.17g,%.17g,%.17g does not overlap the raster, which spans "
             "%.17g,%.17g,%.17g,%.17g in its CRS",
             (*o.extent)[0], (*o.extent)[1], (*o.extent)[2], (*o.extent)[3], gt[0],
             gt[3] + ds->GetRasterYSize() * gt[5], gt[0] + ds->GetRasterXSize() * gt[1], gt[3]);
    return false;
  }
  *xoff = static_cast<int>(x0);
  *yoff = static_cast<int>(y0);
  *w = static_cast<int>(x1 - x0);
  *h = static_cast<int>(y1 - y0);
  return true;
}

}  // namespace

std::unique_ptr<SourceRaster> SourceRaster::open(const std::string& name, const FeatureOptions& o) {
  auto r = std::unique_ptr<SourceRaster>(new SourceRaster());
  r->name_ = name;
  r->source_.reset(GDALDataset::Open(name.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR));
  if (!r->source_) {
    const std::string why = CPLGetLastErrorMsg();
    CPLError(CE_Failure, CPLE_OpenFailed, "VITFEAT: cannot open the source raster %s: %s",
             name.c_str(), why.c_str());
    return nullptr;
  }
  const int count = r->source_->GetRasterCount();
  if (count == 0) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: %s has no raster bands", name.c_str());
    return nullptr;
  }
  r->bands_ = o.bands;
  if (r->bands_.empty())
    for (int b = 1; b <= count; ++b) r->bands_.push_back(b);
  for (const int b : r->bands_) {
    if (b < 1 || b > count) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "VITFEAT: invalid BANDS: band %d does not exist in %s (bands 1..%d)", b,
               name.c_str(), count);
      return nullptr;
    }
  }

  GDALDataset* ds = r->source_.get();
  r->width_ = ds->GetRasterXSize();
  r->height_ = ds->GetRasterYSize();
  if (!o.target_srs.empty() || o.target_res > 0) {
    r->warped_ = warp(ds, o);
    if (!r->warped_) return nullptr;
    // The extent is the warp's output bounds (-te): part of the pixels too.
    r->warp_ = "|warp=" + o.target_srs + "|" + CPLSPrintf("%.17g", o.target_res) + "|" +
               o.resampling + (o.extent ? "|te=" + extentKey(o) : std::string());
    ds = r->warped_.get();
    r->width_ = ds->GetRasterXSize();
    r->height_ = ds->GetRasterYSize();
  } else if (o.extent) {
    if (!extentWindow(ds, o, &r->xoff_, &r->yoff_, &r->width_, &r->height_)) return nullptr;
  }

  double gt[6];
  r->hasGeoTransform_ = ds->GetGeoTransform(gt) == CE_None;
  if (r->hasGeoTransform_) {
    gt[0] += r->xoff_ * gt[1] + r->yoff_ * gt[2];
    gt[3] += r->xoff_ * gt[4] + r->yoff_ * gt[5];
    std::copy(gt, gt + 6, r->geoTransform_.begin());
  }

  VSIStatBufL st;
  const bool stat = VSIStatL(name.c_str(), &st) == 0;
  // The modification time to the nanosecond where the system keeps it: a file
  // rewritten within the same second at the same size is another input.
  long long nanoseconds = 0;
#if defined(__linux__)
  if (stat) nanoseconds = static_cast<long long>(st.st_mtim.tv_nsec);
#endif
  r->identity_ = name + (stat ? CPLSPrintf("|%lld|%lld.%09lld", static_cast<long long>(st.st_size),
                                           static_cast<long long>(st.st_mtime), nanoseconds)
                              : "");
  return r;
}

std::unique_ptr<SourceRaster> SourceRaster::downsampled(int factor) const {
  auto r = std::unique_ptr<SourceRaster>(new SourceRaster(*this));
  r->factor_ = factor_ * factor;
  r->width_ = (width_ + factor - 1) / factor;
  r->height_ = (height_ + factor - 1) / factor;
  for (const int i : {1, 2, 4, 5}) r->geoTransform_[i] *= factor;
  r->identity_ = identity_ + "|x" + std::to_string(r->factor_);
  return r;
}

CellRect SourceRaster::datasetWindow() const {
  return CellRect{xoff_, yoff_, width_ * factor_, height_ * factor_}.intersect(
      {0, 0, dataset()->GetRasterXSize(), dataset()->GetRasterYSize()});
}

GDALDataType SourceRaster::dataType(int i) const { return band(i)->GetRasterDataType(); }

namespace {

int floorDiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int ceilDiv(int a, int b) { return -floorDiv(-a, b); }

}  // namespace

CellRect SourceRaster::levelWindowInDataset(const CellRect& window) const {
  // Level pixel x covers dataset columns [x*f + xoff, (x+1)*f + xoff).
  const int f = factor_;
  const int x0 = floorDiv(-xoff_, f), y0 = floorDiv(-yoff_, f);
  const int x1 = ceilDiv(dataset()->GetRasterXSize() - xoff_, f);
  const int y1 = ceilDiv(dataset()->GetRasterYSize() - yoff_, f);
  return window.intersect({x0, y0, x1 - x0, y1 - y0});
}

namespace {

// Block rows of `band` wholly above dataset row `row`: block y covers rows
// [y * blockY, (y + 1) * blockY); past the last row, the last (partial) block
// counts too.
int blockRowsAbove(GDALRasterBand* band, int row) {
  int blockX = 0, blockY = 0;
  band->GetBlockSize(&blockX, &blockY);
  if (blockY <= 0) return 0;
  return row >= band->GetYSize() ? (band->GetYSize() + blockY - 1) / blockY : row / blockY;
}

// Flushes the cached blocks of `band` in block rows [from, to).
void releaseBlockRows(GDALRasterBand* band, int from, int to) {
  int blockX = 0, blockY = 0;
  band->GetBlockSize(&blockX, &blockY);
  if (blockX <= 0) return;
  const int columns = (band->GetXSize() + blockX - 1) / blockX;
  for (int y = from; y < to; ++y)
    for (int x = 0; x < columns; ++x) band->FlushBlock(x, y, FALSE);
}

}  // namespace

void SourceRaster::releaseRows(int fromRow, int toRow) const {
  if (factor_ != 1 || warped_) return;
  const int from = std::max(0, fromRow + yoff_), to = std::max(0, toRow + yoff_);
  for (size_t i = 0; i < bands_.size(); ++i) {
    GDALRasterBand* b = band(static_cast<int>(i));
    // A mask band that reads the band itself (no data value) caches its own
    // blocks too; one that is all valid has none.
    GDALRasterBand* mask = b->GetMaskFlags() & GMF_ALL_VALID ? nullptr : b->GetMaskBand();
    for (GDALRasterBand* r : {b, mask}) {
      if (!r) continue;
      int blockX = 0, blockY = 0;
      r->GetBlockSize(&blockX, &blockY);
      if (blockY > 0) releaseBlockRows(r, from / blockY, blockRowsAbove(r, to));
    }
  }
}

bool SourceRaster::readBand(int i, const CellRect& window, float* dst, unsigned char* mask,
                            size_t lineStride) const {
  GDALRasterBand* band = this->band(i);
  const int f = factor_;
  // The dataset pixels under the window. A level pixel on the dataset's right
  // or bottom edge covers fewer than f source pixels: GDAL averages the ones
  // it has into it (a fraction of a level pixel of shift at that edge only).
  const CellRect pixels =
      CellRect{window.x0 * f + xoff_, window.y0 * f + yoff_, window.width * f, window.height * f}
          .intersect({0, 0, dataset()->GetRasterXSize(), dataset()->GetRasterYSize()});
  GDALRasterIOExtraArg extra;
  INIT_RASTERIO_EXTRA_ARG(extra);
  if (f > 1) extra.eResampleAlg = GRIORA_Average;
  const GSpacing lineBytes = static_cast<GSpacing>(lineStride) * sizeof(float);
  if (band->RasterIO(GF_Read, pixels.x0, pixels.y0, pixels.width, pixels.height, dst, window.width,
                     window.height, GDT_Float32, sizeof(float), lineBytes, &extra) != CE_None)
    return false;
  if (band->GetMaskFlags() & GMF_ALL_VALID) {
    for (int y = 0; y < window.height; ++y)
      std::fill(mask + y * lineStride, mask + y * lineStride + window.width, 1);
  } else {
    // Averaged at reduced resolution, a level pixel has data when any pixel under it has.
    if (band->GetMaskBand()->RasterIO(GF_Read, pixels.x0, pixels.y0, pixels.width, pixels.height,
                                      mask, window.width, window.height, GDT_Byte, 1,
                                      static_cast<GSpacing>(lineStride), &extra) != CE_None)
      return false;
    for (int y = 0; y < window.height; ++y)
      for (int x = 0; x < window.width; ++x) {
        unsigned char& m = mask[y * lineStride + x];
        m = m != 0;
      }
  }
  // NaN and infinite input are "no data" whatever the mask says (an infinite
  // value would make every feature of its tile NaN). Integer data has neither.
  if (!GDALDataTypeIsFloating(band->GetRasterDataType())) return true;
  for (int y = 0; y < window.height; ++y)
    for (int x = 0; x < window.width; ++x)
      if (!std::isfinite(dst[y * lineStride + x])) mask[y * lineStride + x] = 0;
  return true;
}

bool SourceRaster::read(const PixelWindow& window, float* values, unsigned char* valid) const {
  const int w = window.width, h = window.height;
  const size_t plane = static_cast<size_t>(w) * h;
  const int C = bandCount();
  std::fill(values, values + plane * C, 0.0f);
  std::fill(valid, valid + plane * C, 0);

  // The part of the window that covers dataset pixels, in this level's pixels.
  const CellRect inDataset = levelWindowInDataset(window);
  if (inDataset.empty()) return true;
  const size_t offset =
      static_cast<size_t>(inDataset.y0 - window.y0) * w + (inDataset.x0 - window.x0);
  for (int b = 0; b < C; ++b)
    if (!readBand(b, inDataset, values + plane * b + offset, valid + plane * b + offset, w))
      return false;
  return true;
}

}  // namespace vitfeat
