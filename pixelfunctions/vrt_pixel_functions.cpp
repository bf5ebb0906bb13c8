#include "pixelfunctions/vrt_pixel_functions.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "pixelfunctions/cosine.h"
#include "pixelfunctions/kmeans.h"
#include "pixelfunctions/pca.h"
#include "pixelfunctions/stretch.h"

namespace vitfeat::math {

namespace {

// Cells converted and processed at once: bounds the float copy of the sources
// (kChunkCells x sources) whatever window GDAL asks for.
constexpr size_t kChunkCells = 4096;

// An error whose message is ready for the user; the function name is added
// where it is reported.
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string trim(const std::string& text) {
  const char* spaces = " \t\r\n";
  const size_t first = text.find_first_not_of(spaces);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(spaces) - first + 1);
}

// Every piece between separators, empty ones included, so that "1,,2" is an
// error rather than silently "1,2".
std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> pieces;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(separator, start);
    pieces.push_back(trim(text.substr(start, end == std::string::npos ? end : end - start)));
    if (end == std::string::npos) return pieces;
    start = end + 1;
  }
}

// One number, strictly: the whole token must parse (CPLStrtod is
// locale-independent, unlike strtod).
double parseNumber(const std::string& token, const char* argument, bool allowNonFinite) {
  if (token.empty()) {
    throw ArgumentError(std::string("argument '") + argument + "' has an empty value");
  }
  char* end = nullptr;
  const double value = CPLStrtod(token.c_str(), &end);
  if (end != token.c_str() + token.size()) {
    throw ArgumentError(std::string("argument '") + argument + "': '" + token +
                        "' is not a number");
  }
  if (!allowNonFinite && !std::isfinite(value)) {
    throw ArgumentError(std::string("argument '") + argument + "': '" + token +
                        "' is not a finite number");
  }
  return value;
}

std::vector<double> parseVector(const std::string& text, const char* argument) {
  std::vector<double> values;
  for (const std::string& token : split(text, ',')) {
    values.push_back(parseNumber(token, argument, false));
  }
  return values;
}

std::string requiredArgument(CSLConstList args, const char* argument, const char* what) {
  const char* value = CSLFetchNameValue(args, argument);
  if (value == nullptr) {
    throw ArgumentError(std::string("missing argument '") + argument + "' (" + what + ")");
  }
  return value;
}

// The value given to cells with a NaN feature: the optional 'nodata' argument
// (GDAL 3.6's builtin NoData argument cannot be optional: a band without
// <NoDataValue> would fail to read), else `fallback`.
double noDataArgument(CSLConstList args, double fallback) {
  const char* value = CSLFetchNameValue(args, "nodata");
  return value == nullptr ? fallback : parseNumber(trim(value), "nodata", true);
}

void requireLength(size_t length, int sources, const char* argument) {
  if (length != static_cast<size_t>(sources)) {
    throw ArgumentError(std::string("argument '") + argument + "' has " + std::to_string(length) +
                        " values but the band has " + std::to_string(sources) +
                        " sources: one value per source (feature band) is expected");
  }
}

// The part every function shares: sources in chunks of cells converted to a
// count x sources float matrix (one source per column, as the math expects),
// `apply` filling one double per cell, written to the caller's buffer with its
// type and spacing.
struct PixelRequest {
  void** sources;
  int sourceCount;
  void* data;
  int width;
  int height;
  GDALDataType sourceType;
  GDALDataType bufferType;
  int pixelSpace;
  int lineSpace;
};

template <typename Apply>
void forEachChunk(const PixelRequest& request, Apply&& apply) {
  if (request.sourceType != GDT_Float32 && request.sourceType != GDT_Float64) {
    // Without <SourceTransferType> GDAL 3.6 hands the sources over in the
    // reader's buffer type: a Byte read would truncate every feature.
    throw ArgumentError(std::string("the sources arrive as ") +
                        GDALGetDataTypeName(request.sourceType) +
                        "; add <SourceTransferType>Float32</SourceTransferType> (or Float64) to "
                        "the VRTDerivedRasterBand");
  }
  const int sourceSize = GDALGetDataTypeSizeBytes(request.sourceType);
  const size_t total = static_cast<size_t>(request.width) * static_cast<size_t>(request.height);
  Eigen::MatrixXf chunk;
  std::vector<double> values;
  for (size_t first = 0; first < total; first += kChunkCells) {
    const auto count = static_cast<int>(std::min(kChunkCells, total - first));
    chunk.resize(count, request.sourceCount);
    for (int s = 0; s < request.sourceCount; ++s) {
      GDALCopyWords(static_cast<const GByte*>(request.sources[s]) + first * sourceSize,
                    request.sourceType, sourceSize, chunk.col(s).data(), GDT_Float32,
                    static_cast<int>(sizeof(float)), count);
    }
    values.assign(static_cast<size_t>(count), 0.0);
    apply(chunk, values.data());
    // Write line segment by line segment: the chunk may start mid-line and the
    // caller's buffer has its own pixel and line spacing.
    int done = 0;
    while (done < count) {
      const size_t cell = first + static_cast<size_t>(done);
      const auto y = static_cast<GPtrDiff_t>(cell / static_cast<size_t>(request.width));
      const auto x = static_cast<int>(cell % static_cast<size_t>(request.width));
      const int length = std::min(count - done, request.width - x);
      GByte* target = static_cast<GByte*>(request.data) + y * request.lineSpace +
                      static_cast<GPtrDiff_t>(x) * request.pixelSpace;
      GDALCopyWords(values.data() + done, GDT_Float64, static_cast<int>(sizeof(double)), target,
                    request.bufferType, request.pixelSpace, length);
      done += length;
    }
  }
}

// No C++ exception may cross into GDAL: every failure becomes a CPLError
// naming the function, and CE_Failure.
template <typename Body>
CPLErr guarded(const char* function, Body&& body) {
  try {
    body();
    return CE_None;
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: %s", function, e.what());
  } catch (...) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: unknown error", function);
  }
  return CE_Failure;
}

constexpr const char* kCosineName = "vitfeat_cosine";
constexpr const char* kProjectName = "vitfeat_project";
constexpr const char* kNearestName = "vitfeat_nearest";

CPLErr cosinePixels(void** sources, int sourceCount, void* data, int width, int height,
                    GDALDataType sourceType, GDALDataType bufferType, int pixelSpace, int lineSpace,
                    CSLConstList args) {
  return guarded(kCosineName, [&] {
    const std::vector<double> reference =
        parseVector(requiredArgument(args, "reference", "comma-separated numbers, one per source"),
                    "reference");
    requireLength(reference.size(), sourceCount, "reference");
    const Eigen::Map<const Eigen::VectorXd> referenceVector(reference.data(),
                                                            static_cast<Eigen::Index>(sourceCount));
    if (!(referenceVector.norm() > 0)) {
      throw ArgumentError("argument 'reference' is the zero vector: its direction is undefined");
    }
    const double noData = noDataArgument(args, std::numeric_limits<double>::quiet_NaN());
    Eigen::VectorXf similarity;
    const PixelRequest request{sources,    sourceCount, data,       width,    height,
                               sourceType, bufferType,  pixelSpace, lineSpace};
    forEachChunk(request, [&](const Eigen::MatrixXf& cells, double* out) {
      similarity.resize(cells.rows());
      cosineSimilarity(referenceVector, cells, similarity);
      for (Eigen::Index i = 0; i < cells.rows(); ++i) {
        out[i] = std::isnan(similarity(i)) ? noData : similarity(i);
      }
    });
  });
}

CPLErr projectPixels(void** sources, int sourceCount, void* data, int width, int height,
                     GDALDataType sourceType, GDALDataType bufferType, int pixelSpace,
                     int lineSpace, CSLConstList args) {
  return guarded(kProjectName, [&] {
    const std::vector<double> mean = parseVector(
        requiredArgument(args, "mean", "comma-separated numbers, one per source"), "mean");
    requireLength(mean.size(), sourceCount, "mean");
    const std::vector<double> direction =
        parseVector(requiredArgument(args, "direction", "comma-separated numbers, one per source"),
                    "direction");
    requireLength(direction.size(), sourceCount, "direction");
    bool stretch = false;
    double lo = 0;
    double hi = 0;
    if (const char* text = CSLFetchNameValue(args, "stretch")) {
      const std::vector<double> range = parseVector(text, "stretch");
      if (range.size() != 2) {
        throw ArgumentError("argument 'stretch' has " + std::to_string(range.size()) +
                            " values: 'lo,hi' (2 values) is expected");
      }
      stretch = true;
      lo = range[0];
      hi = range[1];
      // lo == hi is a fitted constant component (mid grey); lo > hi a typo.
      if (lo > hi)
        throw ArgumentError("argument 'stretch' is '" + trim(text) +
                            "': lo,hi with lo <= hi is expected");
    }
    // Stretched output is display Bytes where 0 is no data (stretchToByte's).
    const double noData =
        noDataArgument(args, stretch ? 0.0 : std::numeric_limits<double>::quiet_NaN());
    const auto d = static_cast<Eigen::Index>(sourceCount);
    const Eigen::Map<const Eigen::VectorXd> meanVector(mean.data(), d);
    const Eigen::Map<const Eigen::MatrixXd> directionMatrix(direction.data(), d, 1);
    Eigen::MatrixXf projected;
    const PixelRequest request{sources,    sourceCount, data,       width,    height,
                               sourceType, bufferType,  pixelSpace, lineSpace};
    forEachChunk(request, [&](const Eigen::MatrixXf& cells, double* out) {
      projected.resize(cells.rows(), 1);
      projectCentred(meanVector, directionMatrix, cells, projected);
      for (Eigen::Index i = 0; i < cells.rows(); ++i) {
        const double v = projected(i, 0);
        if (std::isnan(v)) {
          out[i] = noData;
        } else {
          out[i] = stretch ? static_cast<double>(stretchToByte(v, lo, hi)) : v;
        }
      }
    });
  });
}

CPLErr nearestPixels(void** sources, int sourceCount, void* data, int width, int height,
                     GDALDataType sourceType, GDALDataType bufferType, int pixelSpace,
                     int lineSpace, CSLConstList args) {
  return guarded(kNearestName, [&] {
    const std::vector<std::string> rows =
        split(requiredArgument(args, "centroids",
                               "one row per centroid separated by ';', values separated by ','"),
              ';');
    const auto d = static_cast<Eigen::Index>(sourceCount);
    Eigen::MatrixXd centroids(static_cast<Eigen::Index>(rows.size()), d);
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::vector<double> row = parseVector(rows[r], "centroids");
      if (row.size() != static_cast<size_t>(sourceCount)) {
        throw ArgumentError("argument 'centroids': row " + std::to_string(r) + " has " +
                            std::to_string(row.size()) + " values but the band has " +
                            std::to_string(sourceCount) +
                            " sources: one value per source (feature band) is expected");
      }
      centroids.row(static_cast<Eigen::Index>(r)) =
          Eigen::Map<const Eigen::RowVectorXd>(row.data(), d);
    }
    const double noData = noDataArgument(args, 255.0);
    // Labels 0..k-1 and the no-data value must fit the type written (GDAL
    // clamps what does not: a label past 255 read into Bytes would become 255,
    // the default no data) and stay apart.
    const double k = static_cast<double>(centroids.rows());
    const std::string noDataName =
        CSLFetchNameValue(args, "nodata") ? "argument 'nodata'" : "the default no data";
    if (GDALDataTypeIsInteger(bufferType)) {
      const int bits = GDALGetDataTypeSizeBits(bufferType);
      const bool isSigned = GDALDataTypeIsSigned(bufferType);
      const double most = isSigned ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1;
      const double least = isSigned ? -std::ldexp(1.0, bits - 1) : 0.0;
      if (k - 1 > most)
        throw ArgumentError(std::to_string(centroids.rows()) + " centroids give labels up to " +
                            std::to_string(centroids.rows() - 1) + ", which " +
                            GDALGetDataTypeName(bufferType) +
                            " cannot hold: make the band UInt16 (and read it as such)");
      if (!(noData >= least && noData <= most) || noData != std::floor(noData))
        throw ArgumentError(noDataName + " " + CPLString().Printf("%.17g", noData) + " is not a " +
                            GDALGetDataTypeName(bufferType) + " value");
    }
    if (noData >= 0 && noData <= k - 1 && noData == std::floor(noData))
      throw ArgumentError(noDataName + " " + CPLString().Printf("%.17g", noData) +
                          " is also a label (0 to " + std::to_string(centroids.rows() - 1) +
                          "): give nodata a value outside them, e.g. nodata='" +
                          std::to_string(centroids.rows()) + "'");
    // metric=cosine: the most similar row (as VITSIM's most_similar band).
    const std::string metric = trim(CSLFetchNameValueDef(args, "metric", "euclidean"));
    if (metric != "euclidean" && metric != "cosine")
      throw ArgumentError("argument 'metric': '" + metric + "' is not euclidean or cosine");
    if (metric == "cosine")
      for (Eigen::Index r = 0; r < centroids.rows(); ++r)
        if (!(centroids.row(r).norm() > 0))
          throw ArgumentError("argument 'centroids': row " + std::to_string(r) +
                              " is the zero vector: cosine similarity is undefined");
    std::vector<int> labels;
    Eigen::MatrixXf scores;
    const PixelRequest request{sources,    sourceCount, data,       width,    height,
                               sourceType, bufferType,  pixelSpace, lineSpace};
    forEachChunk(request, [&](const Eigen::MatrixXf& cells, double* out) {
      if (metric == "cosine") {
        scores.resize(cells.rows(), centroids.rows());
        for (Eigen::Index r = 0; r < centroids.rows(); ++r)
          cosineSimilarity(centroids.row(r).transpose(), cells, scores.col(r));
        argmaxRows(scores, labels);
      } else {
        nearestCentroid(centroids, cells, labels);
      }
      for (Eigen::Index i = 0; i < cells.rows(); ++i) {
        const int label = labels[static_cast<size_t>(i)];
        out[i] = label < 0 ? noData : static_cast<double>(label);
      }
    });
  });
}

// Argument descriptions for GDAL. In GDAL 3.6 only type='constant' and
// type='builtin' entries are acted on; the others document the arguments.
constexpr const char* kCosineMetadata =
    "<PixelFunctionArgumentsList>"
    "<Argument name='reference' type='string' description='Reference feature vector: "
    "comma-separated numbers, one per source (feature band)'/>"
    "<Argument name='nodata' type='double' description='Value of cells with a NaN feature or "
    "zero length (default NaN)'/>"
    "</PixelFunctionArgumentsList>";
constexpr const char* kProjectMetadata =
    "<PixelFunctionArgumentsList>"
    "<Argument name='mean' type='string' description='Feature mean subtracted first: "
    "comma-separated numbers, one per source (feature band)'/>"
    "<Argument name='direction' type='string' description='Projection direction (one PCA "
    "component, whitening folded in): comma-separated numbers, one per source'/>"
    "<Argument name='stretch' type='string' description='Optional lo,hi: output 1..255 display "
    "values stretched from [lo, hi]'/>"
    "<Argument name='nodata' type='double' description='Value of cells with a NaN feature "
    "(default NaN, 0 with stretch)'/>"
    "</PixelFunctionArgumentsList>";
constexpr const char* kNearestMetadata =
    "<PixelFunctionArgumentsList>"
    "<Argument name='centroids' type='string' description='Centroids: rows separated by "
    "semicolons, values by commas, one value per source (feature band); output is the row index "
    "of the nearest'/>"
    "<Argument name='metric' type='string' description='euclidean (default): the nearest row; "
    "cosine: the row of highest cosine similarity'/>"
    "<Argument name='nodata' type='double' description='Value of cells with a NaN feature "
    "(default 255)'/>"
    "</PixelFunctionArgumentsList>";

}  // namespace

void registerPixelFunctions() {
  static std::once_flag once;
  std::call_once(once, [] {
    GDALAddDerivedBandPixelFuncWithArgs(kCosineName, cosinePixels, kCosineMetadata);
    GDALAddDerivedBandPixelFuncWithArgs(kProjectName, projectPixels, kProjectMetadata);
    GDALAddDerivedBandPixelFuncWithArgs(kNearestName, nearestPixels, kNearestMetadata);
  });
}

}  // namespace vitfeat::math
