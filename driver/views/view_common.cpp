// Helpers shared by the view algorithms: number lists, JSON arrays, palettes.
#include <cpl_error.h>
#include <cpl_string.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "driver/views/view_algorithm.h"
#include "pixelfunctions/stretch.h"

namespace vitfeat {

std::string joinNumbers(const double* values, size_t count, const char* separator) {
  std::string s;
  for (size_t i = 0; i < count; ++i)
    s += (i ? separator : "") + std::string(CPLSPrintf("%.9g", values[i]));
  return s;
}

std::string joinRow(const Eigen::MatrixXd& m, Eigen::Index r) {
  return joinNumbers(Eigen::VectorXd(m.row(r).transpose()));
}

std::string joinRows(const Eigen::MatrixXd& m) {
  std::string s;
  for (Eigen::Index r = 0; r < m.rows(); ++r) s += (r ? ";" : "") + joinRow(m, r);
  return s;
}

CPLJSONArray toJson(const Eigen::VectorXd& v) {
  CPLJSONArray a;
  for (Eigen::Index i = 0; i < v.size(); ++i) a.Add(v(i));
  return a;
}

CPLJSONArray toJson(const Eigen::MatrixXd& m) {
  CPLJSONArray rows;
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    rows.Add(toJson(Eigen::VectorXd(m.row(r).transpose())));
  return rows;
}

bool fromJson(const CPLJSONArray& a, Eigen::Index size, Eigen::VectorXd& v, const char* driver,
              const char* what) {
  if (!a.IsValid() || a.Size() != size) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's %s has %d values, expected %lld",
             driver, what, a.IsValid() ? a.Size() : 0, static_cast<long long>(size));
    return false;
  }
  v.resize(size);
  for (Eigen::Index i = 0; i < size; ++i) {
    const CPLJSONObject x = a[static_cast<int>(i)];
    if (x.GetType() != CPLJSONObject::Type::Double && x.GetType() != CPLJSONObject::Type::Integer &&
        x.GetType() != CPLJSONObject::Type::Long) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's %s holds a non-number: %s", driver,
               what, x.ToString().c_str());
      return false;
    }
    v(i) = x.ToDouble();
    if (!std::isfinite(v(i))) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's %s holds a non-finite value",
               driver, what);
      return false;
    }
  }
  return true;
}

bool fromJson(const CPLJSONArray& a, Eigen::Index rows, Eigen::Index cols, Eigen::MatrixXd& m,
              const char* driver, const char* what) {
  if (!a.IsValid() || a.Size() != rows) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's %s has %d rows, expected %lld",
             driver, what, a.IsValid() ? a.Size() : 0, static_cast<long long>(rows));
    return false;
  }
  m.resize(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r) {
    Eigen::VectorXd row;
    if (!fromJson(a[static_cast<int>(r)].ToArray(), cols, row, driver, what)) return false;
    m.row(r) = row.transpose();
  }
  return true;
}

std::vector<GDALColorEntry> categoryColors(int n) {
  // Twelve distinct hues first (easy to tell apart on a map), then colours
  // spread by the golden angle in hue for larger counts.
  static const short base[][3] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                  {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                  {188, 189, 34},  {23, 190, 207}, {255, 221, 87},  {0, 0, 128}};
  std::vector<GDALColorEntry> colors;
  for (int i = 0; i < n; ++i) {
    GDALColorEntry e{0, 0, 0, 255};
    if (i < 12) {
      e.c1 = base[i][0];
      e.c2 = base[i][1];
      e.c3 = base[i][2];
    } else {
      const double h = std::fmod(i * 137.50776405, 360.0) / 60.0;
      const double s = 0.65, v = 0.55 + 0.35 * ((i / 7) % 2);
      const double c = v * s, x = c * (1 - std::fabs(std::fmod(h, 2.0) - 1)), m = v - c;
      double r = 0, g = 0, b = 0;
      const int sector = static_cast<int>(h) % 6;
      if (sector == 0)
        r = c, g = x;
      else if (sector == 1)
        r = x, g = c;
      else if (sector == 2)
        g = c, b = x;
      else if (sector == 3)
        g = x, b = c;
      else if (sector == 4)
        r = x, b = c;
      else
        r = c, b = x;
      e.c1 = static_cast<short>(std::lround((r + m) * 255));
      e.c2 = static_cast<short>(std::lround((g + m) * 255));
      e.c3 = static_cast<short>(std::lround((b + m) * 255));
    }
    colors.push_back(e);
  }
  return colors;
}

std::vector<ViewBand> componentBands(const std::string& prefix, int count, bool rgb) {
  std::vector<ViewBand> out;
  for (int c = 0; c < count; ++c) {
    ViewBand b;
    if (rgb) {
      b.type = GDT_Byte;
      b.noData = 0;
      b.colorInterp = static_cast<GDALColorInterp>(GCI_RedBand + c);
      b.description = prefix + std::to_string(c + 1) + " (stretched 1-255)";
    } else {
      b.noData = std::numeric_limits<double>::quiet_NaN();
      b.description = prefix + std::to_string(c + 1);
    }
    out.push_back(b);
  }
  return out;
}

Eigen::MatrixXd displayRanges(const Eigen::Ref<const Eigen::MatrixXd>& values) {
  // Robust: a few extreme cells do not wash out the image.
  constexpr double kLow = 2, kHigh = 98;
  Eigen::MatrixXd ranges(values.cols(), 2);
  for (Eigen::Index c = 0; c < values.cols(); ++c) {
    const std::vector<double> v(values.col(c).data(), values.col(c).data() + values.rows());
    ranges(c, 0) = math::percentile(v, kLow);
    ranges(c, 1) = math::percentile(v, kHigh);
  }
  return ranges;
}

void stretchColumns(const Eigen::MatrixXd& ranges, Eigen::Ref<Eigen::MatrixXf> out) {
  for (Eigen::Index c = 0; c < out.cols(); ++c)
    for (Eigen::Index i = 0; i < out.rows(); ++i)
      out(i, c) = math::stretchToByte(out(i, c), ranges(c, 0), ranges(c, 1));
}

namespace {

std::string encode(const void* data, size_t bytes) {
  char* text = CPLBase64Encode(static_cast<int>(bytes), static_cast<const GByte*>(data));
  std::string out = text ? text : "";
  CPLFree(text);
  return out;
}

bool decode(const std::string& text, size_t bytes, void* out, const char* driver,
            const char* what) {
  std::vector<GByte> buffer(text.begin(), text.end());
  buffer.push_back(0);
  const int got = CPLBase64DecodeInPlace(buffer.data());
  if (got < 0 || static_cast<size_t>(got) != bytes) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: the saved fit's %s is %d bytes of base64 data, expected %zu", driver, what, got,
             bytes);
    return false;
  }
  std::memcpy(out, buffer.data(), bytes);
  return true;
}

}  // namespace

// The bytes are the machine's; every platform GDAL and LibTorch target here
// is little-endian, which is what the descriptors document.
std::string toBase64(const double* values, size_t count) {
  return encode(values, count * sizeof(double));
}
std::string toBase64(const int32_t* values, size_t count) {
  return encode(values, count * sizeof(int32_t));
}
bool fromBase64(const std::string& text, size_t count, double* values, const char* driver,
                const char* what) {
  return decode(text, count * sizeof(double), values, driver, what);
}
bool fromBase64(const std::string& text, size_t count, int32_t* values, const char* driver,
                const char* what) {
  return decode(text, count * sizeof(int32_t), values, driver, what);
}

}  // namespace vitfeat
