#include "pixelfunctions/stretch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace vitfeat::math {

double percentile(std::vector<double> values, double q) {
  if (!(q >= 0 && q <= 100)) {
    throw std::invalid_argument("percentile: q = " + std::to_string(q) +
                                " is invalid: it must be in [0, 100]");
  }
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  // numpy's "linear" method: the virtual index q/100 * (n - 1) between two
  // order statistics. Only those two are needed, so partial selection is enough.
  const double position = q / 100 * static_cast<double>(values.size() - 1);
  const double below = std::floor(position);
  const double t = position - below;
  const auto i = static_cast<size_t>(below);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(i), values.end());
  const double a = values[i];
  if (i + 1 >= values.size()) return a;
  const double b =
      *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(i) + 1, values.end());
  // numpy interpolates from the nearer end, so that t = 1 gives b exactly and
  // the result stays monotonic in q; doing the same keeps the numbers identical.
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

unsigned char stretchToByte(double v, double lo, double hi) {
  if (std::isnan(v)) return 0;
  // A degenerate range carries no contrast: every valid cell gets the middle
  // grey rather than a division by zero.
  if (!(hi > lo)) return 128;
  const double ratio = (v - lo) / (hi - lo);
  if (std::isnan(ratio)) return 128;  // inf / inf when the range overflows a double
  const double t = std::clamp(ratio, 0.0, 1.0);
  return static_cast<unsigned char>(1 + std::lround(254 * t));
}

}  // namespace vitfeat::math
