#include "driver/source_raster.h"

#include <cpl_string.h>
#include <gdal_utils.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "driver/file_stamps.h"
#include "models/sha256.h"

namespace vitfeat {

namespace {

bool isGeoreferenced(GDALDataset* ds) {
  double gt[6];
  return ds->GetGeoTransform(gt) == CE_None;
}

// size: {width, height} of the output, or {0, 0} for the warper's choice.
std::shared_ptr<GDALDataset> warp(GDALDataset* src, const FeatureOptions& o,
                                  std::array<int, 2> size = {0, 0}) {
  CPLStringList args;
  args.AddString("-of");
  args.AddString("VRT");
  args.AddString("-r");
  args.AddString(o.resampling.c_str());
  if (size[0] > 0) {
    args.AddString("-ts");
    args.AddString(std::to_string(size[0]).c_str());
    args.AddString(std::to_string(size[1]).c_str());
  }
  // An alpha band marks pixels outside the source as "no data" (it becomes the mask band).
  args.AddString("-dstalpha");
  if (!o.target_srs.empty()) {
    args.AddString("-t_srs");
    args.AddString(o.target_srs.c_str());
  }
  if (o.target_res > 0 && size[0] == 0) {
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
  // An alpha band says where the other bands have data; as an input it would
  // be all valid, so transparent areas would get features. Left out unless
  // named.
  const auto isAlpha = [&](int b) {
    return r->source_->GetRasterBand(b)->GetColorInterpretation() == GCI_AlphaBand;
  };
  r->bands_ = o.bands;
  if (r->bands_.empty()) {
    for (int b = 1; b <= count; ++b)
      if (!isAlpha(b)) r->bands_.push_back(b);
    if (r->bands_.empty()) r->bands_.push_back(1);  // nothing but alpha: read what there is
  }
  for (const int b : r->bands_) {
    if (b < 1 || b > count) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "VITFEAT: invalid BANDS: band %d does not exist in %s (bands 1..%d)", b,
               name.c_str(), count);
      return nullptr;
    }
    if (!o.bands.empty() && isAlpha(b) && count > 1)
      CPLError(CE_Warning, CPLE_AppDefined,
               "VITFEAT: BANDS names band %d of %s, its alpha band: it has data everywhere, so "
               "areas it marks transparent get features; leave it out of BANDS to have them "
               "read as no data",
               b, name.c_str());
  }

  GDALDataset* ds = r->source_.get();
  r->width_ = ds->GetRasterXSize();
  r->height_ = ds->GetRasterYSize();
  if (!o.target_srs.empty() || o.target_res > 0) {
    {
      // GDAL's warper speaks of its own options (-tr, SRC_METHOD...): say
      // which of ours it was given.
      CPLErrorReset();
      const CPLErrorHandlerPusher quiet(CPLQuietErrorHandler);
      r->warped_ = warp(ds, o);
    }
    if (!r->warped_) {
      const std::string why = CPLGetLastErrorMsg();
      std::string given = o.target_srs.empty() ? "" : " TARGET_SRS=" + o.target_srs;
      if (o.target_res > 0) given += CPLSPrintf(" TARGET_RES=%.17g", o.target_res);
      if (o.extent) given += " EXTENT=" + extentKey(o);
      CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: cannot warp %s with%s: %s%s", name.c_str(),
               given.c_str(), why.c_str(),
               r->source_->GetGCPCount() == 0 && !isGeoreferenced(r->source_.get())
                   ? " (the source has no georeferencing to warp from)"
               : why.find("0x0") != std::string::npos
                   ? " (TARGET_RES is larger than the area: it must leave at least one "
                     "pixel)"
                   : "");
      return nullptr;
    }
    // The extent is the warp's output bounds (-te): part of the pixels too.
    r->warp_ = "|warp=" + o.target_srs + "|" + CPLSPrintf("%.17g", o.target_res) + "|" +
               o.resampling + (o.extent ? "|te=" + extentKey(o) : std::string());
    ds = r->warped_.get();
    r->warpOptions_ = o;
    r->width_ = ds->GetRasterXSize();
    r->height_ = ds->GetRasterYSize();
  } else if (o.extent) {
    if (!extentWindow(ds, o, &r->xoff_, &r->yoff_, &r->width_, &r->height_)) return nullptr;
  }

  double gt[6];
  r->hasGeoTransform_ = ds->GetGeoTransform(gt) == CE_None;
  if (!r->hasGeoTransform_ && ds->GetGCPCount() > 0)
    CPLError(CE_Warning, CPLE_AppDefined,
             "VITFEAT: %s is georeferenced by %d ground control points only, which the features "
             "do not carry: they have no georeferencing. Open it with -oo TARGET_SRS=<CRS> (and "
             "TARGET_RES) to warp it onto a map grid first",
             name.c_str(), ds->GetGCPCount());
  if (r->hasGeoTransform_) {
    gt[0] += r->xoff_ * gt[1] + r->yoff_ * gt[2];
    gt[3] += r->xoff_ * gt[4] + r->yoff_ * gt[5];
    std::copy(gt, gt + 6, r->geoTransform_.begin());
  }

  r->identity_ = name + fileStamp(name);
  // The files the source reads besides its name (those a VRT points to,
  // world files, ...): rewriting one changes the pixels as much as rewriting
  // the named file does. PAM's .aux.xml is left out: GDAL and QGIS rewrite it
  // whenever they save statistics or histograms; what it can change of the
  // input, no data, is in the bands' part below.
  // As a digest: a VRT mosaic may list thousands of files, and every cached
  // tile's key carries this identity.
  const std::string others = datasetFileStamps(r->source_.get(), name);
  if (!others.empty()) {
    Sha256 h;
    h.update(others.data(), others.size());
    r->identity_ += "|files:" + Sha256::hex(h.digest());
  }
  // No data and masks as the bands declare them, wherever they come from.
  for (const int b : r->bands_) {
    GDALRasterBand* band = r->source_->GetRasterBand(b);
    int has = FALSE;
    const double nodata = band->GetNoDataValue(&has);
    r->identity_ += CPLSPrintf("|b%d:m%d", b, band->GetMaskFlags());
    if (has) r->identity_ += CPLSPrintf(":n%.17g", nodata);
  }
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

std::shared_ptr<GDALDataset> SourceRaster::warpedAtMost(int side) const {
  if (!warped_) return nullptr;
  const int w = warped_->GetRasterXSize(), h = warped_->GetRasterYSize();
  const double scale = std::min(1.0, static_cast<double>(side) / std::max(w, h));
  FeatureOptions o = warpOptions_;
  o.resampling = "near";
  // The same bounds as the full-resolution warp: its geotransform and size.
  double gt[6];
  if (warped_->GetGeoTransform(gt) != CE_None) return nullptr;
  o.extent = std::array<double, 4>{gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3]};
  o.extent_srs.clear();  // the warp's own CRS
  return warp(source_.get(), o,
              {std::max(1, static_cast<int>(w * scale)), std::max(1, static_cast<int>(h * scale))});
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

namespace {

// Level pixels [level0, level0 + levels) along one axis, and the dataset
// pixels [data0, data0 + data) under them.
struct Run {
  int level0, levels, data0, data;
};

// Splits level pixels [start, start + count) of a level of reduction f, whose
// pixel x covers dataset pixels [x * f + off, (x + 1) * f + off) clipped to
// [0, size), into runs read with one integer ratio each: a pixel at an edge of
// the dataset that covers fewer than f pixels is a run of its own. Read
// together, GDAL would spread the ratio (say 255 / 128) over the whole window
// and no level pixel would be the average of its own f x f block.
std::vector<Run> runsOf(int start, int count, int off, int f, int size) {
  const auto cover = [&](int x) {
    const int d0 = std::max(0, x * f + off), d1 = std::min(size, (x + 1) * f + off);
    return std::pair<int, int>{d0, d1 - d0};
  };
  std::vector<Run> runs;
  for (int x = start; x < start + count;) {
    const auto [d0, w] = cover(x);
    int n = 1;
    if (w == f)
      while (x + n < start + count && cover(x + n).second == f) ++n;
    runs.push_back({x, n, d0, w == f ? n * f : w});
    x += n;
  }
  return runs;
}

}  // namespace

bool SourceRaster::readBand(int i, const CellRect& window, float* dst, unsigned char* mask,
                            size_t lineStride) const {
  GDALRasterBand* band = this->band(i);
  const int f = factor_;
  GDALRasterIOExtraArg extra;
  INIT_RASTERIO_EXTRA_ARG(extra);
  if (f > 1) extra.eResampleAlg = GRIORA_Average;
  const GSpacing lineBytes = static_cast<GSpacing>(lineStride) * sizeof(float);
  const std::vector<Run> columns =
      runsOf(window.x0, window.width, xoff_, f, dataset()->GetRasterXSize());
  const std::vector<Run> rows =
      runsOf(window.y0, window.height, yoff_, f, dataset()->GetRasterYSize());
  const bool allValid = band->GetMaskFlags() & GMF_ALL_VALID;
  for (const Run& r : rows)
    for (const Run& c : columns) {
      const size_t at = static_cast<size_t>(r.level0 - window.y0) * lineStride +
                        static_cast<size_t>(c.level0 - window.x0);
      if (band->RasterIO(GF_Read, c.data0, r.data0, c.data, r.data, dst + at, c.levels, r.levels,
                         GDT_Float32, sizeof(float), lineBytes, &extra) != CE_None)
        return false;
      // Averaged at reduced resolution, a level pixel has data when any pixel
      // under it has.
      if (!allValid && band->GetMaskBand()->RasterIO(
                           GF_Read, c.data0, r.data0, c.data, r.data, mask + at, c.levels, r.levels,
                           GDT_Byte, 1, static_cast<GSpacing>(lineStride), &extra) != CE_None)
        return false;
    }
  if (allValid) {
    for (int y = 0; y < window.height; ++y)
      std::fill(mask + y * lineStride, mask + y * lineStride + window.width, 1);
  } else {
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
