// What makes one view differ from another: its options, how it fits on a
// feature source, how the fit is saved and restored, the bands it outputs and
// the math applied to a window of feature cells. Everything else (opening,
// reading windows, persistence, descriptors, VRT export, GDAL plumbing) is the
// ViewDataset's, once for every view.
#pragma once

#include <cpl_json.h>
#include <cpl_string.h>
#include <gdal.h>

#include <Eigen/Dense>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "driver/feature_options.h"
#include "driver/views/feature_source.h"
#include "driver/views/view_options.h"

namespace vitfeat {

// One output band: how it looks to GDAL.
struct ViewBand {
  GDALDataType type = GDT_Float32;
  std::string description;
  double noData = 0;  // NaN for floating-point bands
  GDALColorInterp colorInterp = GCI_Undefined;
  std::vector<std::string> categories;  // category names, by value
  std::vector<GDALColorEntry> colors;   // colour table, empty for none
};

// How a VRT computes one output band from the feature bands: a pixel function
// of pixelfunctions/vrt_pixel_functions.h and its arguments (the fit, as text).
struct VrtFunction {
  std::string name;
  CPLStringList arguments;
};

class ViewAlgorithm {
 public:
  virtual ~ViewAlgorithm() = default;

  // Fits on the source. progress may be called often; false + CPLError on
  // failure or cancellation.
  virtual bool fit(const FeatureSource& source, GDALProgressFunc progress, void* progressData) = 0;
  // The fit as JSON, and back (checked against the source's band count).
  virtual CPLJSONObject saveFit() const = 0;
  virtual bool loadFit(const CPLJSONObject& fit, int sourceBands) = 0;

  // What identifies the fit's inputs besides the source and the options (a
  // training file's size and date), so a cached fit is not reused after they
  // change.
  virtual std::string fitInputs() const { return ""; }

  virtual std::vector<ViewBand> bands() const = 0;
  // Band b (0-based) as a VRT pixel function; only the VRT export asks, so
  // the fit is formatted as text only then. An empty name: the view has no
  // pixel function (vrtUnsupported says why).
  virtual VrtFunction vrtFunction(int band) const = 0;
  // Why this view cannot be exported as a VRT; empty when it can.
  virtual std::string vrtUnsupported() const { return ""; }
  // cells: n x d feature cells (a row of NaN: no data); out: n x bands(),
  // values in each band's data type's range (no-data values included).
  virtual void apply(const Eigen::Ref<const Eigen::MatrixXf>& cells,
                     Eigen::Ref<Eigen::MatrixXf> out) const = 0;
  // The fitted parameters as metadata items of the view's domain.
  virtual void describe(CPLStringList& record) const = 0;
};

// A view driver: its GDAL names, its own options and how to make its algorithm
// from them (nullptr after CPLError when an option is invalid).
struct ViewKind {
  const char* driver;     // VITPCA
  const char* longName;   // for GDAL_DMD_LONGNAME
  const char* extension;  // descriptor extension, e.g. vitpca
  const char* helpTopic;  // docs/views.md anchor
  std::vector<OptionSpec> options;
  std::function<std::unique_ptr<ViewAlgorithm>(ViewOptions&)> create;
};

const ViewKind& pcaView();
const ViewKind& clusterView();
const ViewKind& similarityView();
const ViewKind& classifyView();
const ViewKind& umapView();

// Helpers shared by the algorithms.
std::string joinNumbers(const double* values, size_t count, const char* separator = ",");
inline std::string joinNumbers(const Eigen::VectorXd& v, const char* separator = ",") {
  return joinNumbers(v.data(), static_cast<size_t>(v.size()), separator);
}
// Row r of m, comma-separated; every row, rows separated by ';'.
std::string joinRow(const Eigen::MatrixXd& m, Eigen::Index r);
std::string joinRows(const Eigen::MatrixXd& m);
CPLJSONArray toJson(const Eigen::VectorXd& v);
CPLJSONArray toJson(const Eigen::MatrixXd& m);  // rows
// false + CPLError naming `what` when the array is not `size` numbers.
bool fromJson(const CPLJSONArray& a, Eigen::Index size, Eigen::VectorXd& v, const char* driver,
              const char* what);
bool fromJson(const CPLJSONArray& a, Eigen::Index rows, Eigen::Index cols, Eigen::MatrixXd& m,
              const char* driver, const char* what);
// Large numeric arrays (training samples, trees) as base64 of their
// little-endian bytes: exact, and a fraction of the size of JSON numbers.
// The decoders return false + CPLError naming `what` when the text is not
// `count` values.
std::string toBase64(const double* values, size_t count);
std::string toBase64(const int32_t* values, size_t count);
bool fromBase64(const std::string& text, size_t count, double* values, const char* driver,
                const char* what);
bool fromBase64(const std::string& text, size_t count, int32_t* values, const char* driver,
                const char* what);
// `count` Float32 bands <prefix>1.. (NaN no data), or with rgb three Byte
// bands stretched to 1-255 (0 no data) shown as red, green and blue.
std::vector<ViewBand> componentBands(const std::string& prefix, int count, bool rgb);
// The display range of each column of `values` (rows: sampled cells): the 2nd
// and 98th percentiles, a columns x 2 matrix for stretchColumns.
Eigen::MatrixXd displayRanges(const Eigen::Ref<const Eigen::MatrixXd>& values);
// Each column of out stretched from its range to 1..255 (0 for NaN).
void stretchColumns(const Eigen::MatrixXd& ranges, Eigen::Ref<Eigen::MatrixXf> out);
// A palette of n well separated colours (deterministic).
std::vector<GDALColorEntry> categoryColors(int n);

}  // namespace vitfeat
