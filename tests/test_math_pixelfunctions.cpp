// The VRT pixel functions read through GDAL: in-memory VRTs over a /vsimem/
// GeoTIFF of feature bands, compared with hand-computed values.
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "pixelfunctions/vrt_pixel_functions.h"

namespace {

const float kNaN = std::nanf("");

// Six cells (3 x 2) of three feature bands, row by row.
const float kCells[6][3] = {
    {1, 0, 0}, {0, 2, 0},    {1, 1, 0},  //
    {0, 0, 3}, {kNaN, 1, 1}, {-1, 0, 0},
};

void setUpGdal() {
  vitfeat::math::registerPixelFunctions();
  vitfeat::math::registerPixelFunctions();  // idempotent
  GDALAllRegister();
}

// A Float32 GeoTIFF under /vsimem/ with `bands` bands, value(band, x, y).
template <typename Value>
std::string writeFeatures(const std::string& name, int width, int height, int bands, Value value) {
  const std::string path = "/vsimem/" + name + ".tif";
  GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path.c_str(), width, height, bands,
                               GDT_Float32, nullptr);
  REQUIRE(ds != nullptr);
  std::vector<float> plane(static_cast<size_t>(width) * height);
  for (int b = 0; b < bands; ++b) {
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) plane[static_cast<size_t>(y) * width + x] = value(b, x, y);
    }
    REQUIRE(GDALRasterIO(GDALGetRasterBand(ds, b + 1), GF_Write, 0, 0, width, height, plane.data(),
                         width, height, GDT_Float32, 0, 0) == CE_None);
  }
  GDALClose(ds);
  return path;
}

std::string smallFeatures() {
  return writeFeatures("vitfeat_small", 3, 2, 3,
                       [](int b, int x, int y) { return kCells[y * 3 + x][b]; });
}

// A one-band VRT whose band is `function` over every band of `source`.
std::string derivedVrt(const std::string& source, int width, int height, int bands,
                       const char* dataType, const std::string& function,
                       const std::string& arguments, const std::string& extra = "") {
  std::ostringstream xml;
  xml << "<VRTDataset rasterXSize='" << width << "' rasterYSize='" << height << "'>"
      << "<VRTRasterBand dataType='" << dataType << "' band='1' subClass='VRTDerivedRasterBand'>"
      << extra << "<PixelFunctionType>" << function << "</PixelFunctionType>"
      << "<PixelFunctionArguments " << arguments << "/>";
  for (int b = 1; b <= bands; ++b) {
    xml << "<SimpleSource><SourceFilename relativeToVRT='0'>" << source
        << "</SourceFilename><SourceBand>" << b << "</SourceBand></SimpleSource>";
  }
  xml << "</VRTRasterBand></VRTDataset>";
  return xml.str();
}

// Errors raised while reading, collected instead of printed.
struct ErrorLog {
  std::vector<std::string> messages;
  ErrorLog() { CPLPushErrorHandlerEx(collect, this); }
  ~ErrorLog() { CPLPopErrorHandler(); }
  static void CPL_STDCALL collect(CPLErr, CPLErrorNum, const char* message) {
    static_cast<ErrorLog*>(CPLGetErrorHandlerUserData())->messages.emplace_back(message);
  }
  std::string all() const {
    std::string joined;
    for (const auto& m : messages) joined += m + "\n";
    return joined;
  }
};

template <typename T>
CPLErr readAll(const std::string& xml, GDALDataType type, std::vector<T>& out, int width,
               int height) {
  GDALDatasetH ds = GDALOpen(xml.c_str(), GA_ReadOnly);
  REQUIRE(ds != nullptr);
  out.assign(static_cast<size_t>(width) * height, T{});
  const CPLErr err = GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, width, height,
                                  out.data(), width, height, type, 0, 0);
  GDALClose(ds);
  return err;
}

const char* kFloatTransfer = "<SourceTransferType>Float32</SourceTransferType>";

}  // namespace

TEST_CASE("vitfeat_cosine", "[math][pixelfunctions]") {
  setUpGdal();
  const std::string source = smallFeatures();
  std::vector<double> v;
  SECTION("NaN for no data by default") {
    REQUIRE(readAll(derivedVrt(source, 3, 2, 3, "Float32", "vitfeat_cosine", "reference='2, 0, 0'"),
                    GDT_Float64, v, 3, 2) == CE_None);
    CHECK(v[0] == 1.0);
    CHECK(v[1] == 0.0);
    CHECK(v[2] == Approx(1 / std::sqrt(2.0)).epsilon(1e-6));
    CHECK(v[3] == 0.0);
    CHECK(std::isnan(v[4]));
    CHECK(v[5] == -1.0);
  }
  SECTION("an explicit nodata value") {
    REQUIRE(
        readAll(derivedVrt(source, 3, 2, 3, "Float32", "vitfeat_cosine",
                           "reference='0,1,1' nodata='-9999'", "<NoDataValue>-9999</NoDataValue>"),
                GDT_Float64, v, 3, 2) == CE_None);
    CHECK(v[0] == 0.0);
    CHECK(v[1] == Approx(1 / std::sqrt(2.0)).epsilon(1e-6));
    CHECK(v[3] == Approx(1 / std::sqrt(2.0)).epsilon(1e-6));
    CHECK(v[4] == -9999.0);
  }
}

TEST_CASE("vitfeat_project", "[math][pixelfunctions]") {
  setUpGdal();
  const std::string source = smallFeatures();
  const std::string arguments = "mean='0.5,0.5,0.5' direction='1,2,0'";
  SECTION("centred projection, Float32") {
    // dot((1, 2, 0), x - 0.5)
    std::vector<double> v;
    REQUIRE(readAll(derivedVrt(source, 3, 2, 3, "Float32", "vitfeat_project", arguments),
                    GDT_Float64, v, 3, 2) == CE_None);
    CHECK(v[0] == -0.5);
    CHECK(v[1] == 2.5);
    CHECK(v[2] == 1.5);
    CHECK(v[3] == -1.5);
    CHECK(std::isnan(v[4]));
    CHECK(v[5] == -2.5);
  }
  SECTION("stretched to display Bytes") {
    // 1 + round(254 * clamp((v + 2) / 4, 0, 1)); no data 0.
    std::vector<unsigned char> v;
    REQUIRE(readAll(derivedVrt(source, 3, 2, 3, "Byte", "vitfeat_project",
                               arguments + " stretch='-2,2'",
                               std::string("<NoDataValue>0</NoDataValue>") + kFloatTransfer),
                    GDT_Byte, v, 3, 2) == CE_None);
    CHECK(v == std::vector<unsigned char>{96, 255, 223, 33, 0, 1});
  }
}

TEST_CASE("vitfeat_nearest", "[math][pixelfunctions]") {
  setUpGdal();
  const std::string source = smallFeatures();
  const std::string centroids = "centroids='1,0,0; 0,2,0; 0,0,3'";
  SECTION("labels with the default no data 255") {
    std::vector<unsigned char> v;
    REQUIRE(readAll(derivedVrt(source, 3, 2, 3, "Byte", "vitfeat_nearest", centroids,
                               std::string("<NoDataValue>255</NoDataValue>") + kFloatTransfer),
                    GDT_Byte, v, 3, 2) == CE_None);
    CHECK(v == std::vector<unsigned char>{0, 1, 0, 2, 255, 0});
  }
  SECTION("an explicit nodata, read into a spaced Int32 buffer") {
    // Every other Int32 of each line is ours; the others must stay untouched.
    GDALDatasetH ds = GDALOpen(derivedVrt(source, 3, 2, 3, "Int16", "vitfeat_nearest",
                                          centroids + " nodata='-1'", kFloatTransfer)
                                   .c_str(),
                               GA_ReadOnly);
    REQUIRE(ds != nullptr);
    std::vector<int32_t> buffer(2 * 8, 77);
    REQUIRE(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, 3, 2, buffer.data(), 3, 2,
                         GDT_Int32, 2 * sizeof(int32_t), 8 * sizeof(int32_t)) == CE_None);
    CHECK(buffer == std::vector<int32_t>{0, 77, 1, 77, 0, 77, 77, 77,  //
                                         2, 77, -1, 77, 0, 77, 77, 77});
    // A window off the origin.
    std::vector<int16_t> window(2 * 2);
    REQUIRE(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 1, 0, 2, 2, window.data(), 2, 2,
                         GDT_Int16, 0, 0) == CE_None);
    CHECK(window == std::vector<int16_t>{1, 0, -1, 0});
    GDALClose(ds);
  }
}

TEST_CASE("pixel functions over many cells", "[math][pixelfunctions]") {
  // 100 x 60 cells: more than one internal chunk (4096), the second starting
  // mid-line. Expected values computed here from the same formula.
  setUpGdal();
  const int width = 100;
  const int height = 60;
  auto feature = [](int b, int x, int y) {
    if (x == 37 && y == 45) return kNaN;
    return static_cast<float>(std::sin(0.1 * x + 0.7 * b) + std::cos(0.13 * y * (b + 1)));
  };
  const std::string source = writeFeatures("vitfeat_large", width, height, 4, feature);
  const double reference[4] = {0.3, -1, 2, 0.5};
  std::vector<float> cosine;
  REQUIRE(readAll(derivedVrt(source, width, height, 4, "Float32", "vitfeat_cosine",
                             "reference='0.3,-1,2,0.5'"),
                  GDT_Float32, cosine, width, height) == CE_None);
  std::vector<unsigned char> labels;
  REQUIRE(readAll(derivedVrt(source, width, height, 4, "Byte", "vitfeat_nearest",
                             "centroids='0.3,-1,2,0.5;1,1,1,1;-1,0,0,1'", kFloatTransfer),
                  GDT_Byte, labels, width, height) == CE_None);
  const double centroids[3][4] = {{0.3, -1, 2, 0.5}, {1, 1, 1, 1}, {-1, 0, 0, 1}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const size_t i = static_cast<size_t>(y) * width + x;
      if (x == 37 && y == 45) {
        CHECK(std::isnan(cosine[i]));
        CHECK(labels[i] == 255);
        continue;
      }
      double dot = 0, norm = 0, refNorm = 0;
      double distance[3] = {0, 0, 0};
      for (int b = 0; b < 4; ++b) {
        const double f = feature(b, x, y);
        dot += f * reference[b];
        norm += f * f;
        refNorm += reference[b] * reference[b];
        for (int c = 0; c < 3; ++c) distance[c] += (f - centroids[c][b]) * (f - centroids[c][b]);
      }
      REQUIRE(cosine[i] == Approx(dot / std::sqrt(norm * refNorm)).margin(1e-6));
      const int nearest = static_cast<int>(std::min_element(distance, distance + 3) - distance);
      REQUIRE(labels[i] == nearest);
    }
  }
}

// "0,0,0; 1,0,0; ...": n centroids of 3 values, for vitfeat_nearest.
std::string manyCentroids(int n) {
  std::string rows;
  for (int i = 0; i < n; ++i) rows += (i ? "; " : "") + std::to_string(i) + ",0,0";
  return rows;
}

TEST_CASE("pixel function errors name the function and the argument", "[math][pixelfunctions]") {
  setUpGdal();
  const std::string source = smallFeatures();
  struct Case {
    const char* dataType;
    const char* function;
    std::string arguments;
    std::string extra;
    std::vector<std::string> expected;
    GDALDataType readType = GDT_Float64;
  };
  const std::vector<Case> cases = {
      {"Float32",
       "vitfeat_cosine",
       "reference='1,0'",
       "",
       {"vitfeat_cosine", "'reference'", "2 values", "3 sources"}},
      {"Float32", "vitfeat_cosine", "reference='1,abc,0'", "", {"vitfeat_cosine", "'abc'"}},
      {"Float32", "vitfeat_cosine", "reference='1,,0'", "", {"'reference'", "empty"}},
      {"Float32", "vitfeat_cosine", "reference='0,0,0'", "", {"'reference'", "zero"}},
      {"Float32", "vitfeat_cosine", "nodata='0'", "", {"missing argument 'reference'"}},
      {"Float32",
       "vitfeat_project",
       "mean='0,0,0' direction='1,2,3,4'",
       "",
       {"vitfeat_project", "'direction'", "4 values", "3 sources"}},
      {"Float32",
       "vitfeat_project",
       "mean='0,0,nan' direction='1,2,3'",
       "",
       {"'mean'", "'nan'", "finite"}},
      {"Byte",
       "vitfeat_project",
       "mean='0,0,0' direction='1,2,3' stretch='1'",
       kFloatTransfer,
       {"'stretch'", "lo,hi"}},
      {"Byte",
       "vitfeat_nearest",
       "centroids='1,0,0;0,1'",
       kFloatTransfer,
       {"vitfeat_nearest", "'centroids'", "row 1", "2 values", "3 sources"}},
      // Without SourceTransferType GDAL 3.6 passes sources in the read's type.
      {"Byte",
       "vitfeat_nearest",
       "centroids='1,0,0'",
       "",
       {"vitfeat_nearest", "Byte", "SourceTransferType"},
       GDT_Byte},
      {"Float32", "vitfeat_cosine", "reference='1,0,0' nodata='x'", "", {"'nodata'", "'x'"}},
      // Values a Byte read would clamp onto no data, or a no data that is a label.
      {"Byte",
       "vitfeat_nearest",
       "centroids='" + manyCentroids(300) + "'",
       kFloatTransfer,
       {"vitfeat_nearest", "300 centroids", "up to 299", "Byte", "UInt16"},
       GDT_Byte},
      {"Byte",
       "vitfeat_nearest",
       "centroids='1,0,0; 0,2,0' nodata='1'",
       kFloatTransfer,
       {"argument 'nodata' 1", "also a label (0 to 1)", "nodata='2'"}},
      {"Byte",
       "vitfeat_nearest",
       "centroids='1,0,0; 0,2,0' nodata='-1'",
       kFloatTransfer,
       {"argument 'nodata' -1", "not a Byte value"},
       GDT_Byte},
      {"Byte",
       "vitfeat_project",
       "mean='0,0,0' direction='1,2,3' stretch='2,-2'",
       kFloatTransfer,
       {"'stretch'", "'2,-2'", "lo <= hi"}},
  };
  for (const Case& c : cases) {
    const std::string xml =
        derivedVrt(source, 3, 2, 3, c.dataType, c.function, c.arguments, c.extra);
    GDALDatasetH ds = GDALOpen(xml.c_str(), GA_ReadOnly);
    REQUIRE(ds != nullptr);
    std::vector<double> buffer(6);
    ErrorLog log;
    const CPLErr err = GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, 3, 2, buffer.data(), 3,
                                    2, c.readType, 0, 0);
    GDALClose(ds);
    INFO(c.function << " " << c.arguments << " -> " << log.all());
    CHECK(err == CE_Failure);
    for (const std::string& text : c.expected) CHECK(log.all().find(text) != std::string::npos);
  }
}
