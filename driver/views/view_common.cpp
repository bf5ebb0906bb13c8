// Helpers shared by the view algorithms: number lists, JSON arrays, palettes.
#include <cpl_error.h>
#include <cpl_string.h>

#include <cmath>

#include "driver/views/view_algorithm.h"

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

}  // namespace vitfeat
