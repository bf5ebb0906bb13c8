// The GDAL dataset of every derived view (VITPCA, VITCLUSTER, VITSIM): opens
// the feature source, finds or computes the fit (descriptor, fit store, or a
// seeded sample), and computes blocks lazily by reading the feature window
// under them with one multi-band read and applying the view's math. A block
// read fills the sibling bands' blocks too.
//
// Overviews apply the same fit to the source's overview levels (a VITFEAT
// source computes them from the input at reduced resolution). Opened from a
// descriptor, PAM (.aux.xml) and gdaladdo's .ovr live beside it.
#pragma once

#include <gdal_priv.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driver/lazy_dataset.h"
#include "driver/views/feature_source.h"
#include "driver/views/view_algorithm.h"

namespace vitfeat {

class ViewDataset final : public LazyDataset {
 public:
  static int identify(GDALOpenInfo* info, const ViewKind& kind);
  static GDALDataset* open(GDALOpenInfo* info, const ViewKind& kind);
  // gdal_translate -of <view driver>: a descriptor, or with a .vrt name (or
  // -co FORMAT=VRT) a plain VRT over the source using vitfeat's pixel functions.
  static GDALDataset* createCopy(const ViewKind& kind, const char* filename, GDALDataset* src,
                                 char** options, GDALProgressFunc progress, void* progressData);
  // Registers the GDAL driver of `kind` (no-op when registered).
  using OpenFn = GDALDataset* (*)(GDALOpenInfo*);
  using IdentifyFn = int (*)(GDALOpenInfo*);
  using CopyFn = GDALDataset* (*)(const char*, GDALDataset*, int, char**, GDALProgressFunc, void*);
  static void registerDriver(const ViewKind& kind, OpenFn open, IdentifyFn identify, CopyFn copy);

  CPLErr GetGeoTransform(double* gt) override;
  const OGRSpatialReference* GetSpatialRef() const override;
  char** GetMetadataDomainList() override;
  char** GetMetadata(const char* domain = "") override;
  const char* GetMetadataItem(const char* name, const char* domain = "") override;
  // Closes the source (GDAL's driver manager calls this at shutdown before
  // deleting every open dataset, so the source is not deleted twice).
  int CloseDependentDatasets() override;

  const ViewKind& kind() const { return *kind_; }
  const FeatureSource& source() const { return *source_; }
  const OptionMap& ownOptions() const { return ownOptions_; }
  const std::vector<ViewBand>& bandSpecs() const { return specs_; }
  const ViewAlgorithm& algorithm() const { return *algorithm_; }

  // Output planes of a window: one multi-band read of the feature window
  // and one application of the math for every band.
  const float* windowPlanes(const CellRect& window, GDALProgressFunc progress,
                            void* progressData) override;
  std::size_t windowBytes(int width, int height) const override;

 private:
  ViewDataset() = default;
  bool obtainFit(const std::optional<CPLJSONObject>& saved);
  // Size, bands and metadata for the current source_, algorithm_ and specs_.
  void createBands();
  void refreshCounters();

  const ViewKind* kind_ = nullptr;
  std::unique_ptr<FeatureSource> source_;
  std::shared_ptr<ViewAlgorithm> algorithm_;  // shared with the overview levels
  OptionMap ownOptions_;
  std::vector<ViewBand> specs_;
  std::string descriptorPath_;
  CPLStringList record_;  // the view's metadata domain
  CellRect lastWindow_;
  std::vector<float> inputs_;
  std::vector<float> lastOutputs_;
};

class ViewRasterBand final : public LazyBand {
 public:
  ViewRasterBand(ViewDataset* ds, int band, const ViewBand& spec, int blockX, int blockY);
  double GetNoDataValue(int* success) override;
  GDALColorInterp GetColorInterpretation() override { return spec_.colorInterp; }
  GDALColorTable* GetColorTable() override { return colors_.get(); }
  char** GetCategoryNames() override { return categories_.List(); }

 private:
  const ViewBand spec_;
  std::unique_ptr<GDALColorTable> colors_;
  CPLStringList categories_;
};

// Progress for work GDAL gives no callback for (fits at open): printed to
// stderr when the config option VITFEAT_PROGRESS is YES, else silent.
GDALProgressFunc configuredProgress();

}  // namespace vitfeat
