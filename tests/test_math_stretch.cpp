// Percentiles (numpy's default linear method) and the 1..255 display stretch.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "pixelfunctions/stretch.h"

using vitfeat::math::percentile;
using vitfeat::math::stretchToByte;

namespace {
const double kNaN = std::numeric_limits<double>::quiet_NaN();
}

TEST_CASE("percentile matches numpy.percentile", "[math][stretch]") {
  // Expected values from numpy.percentile(values, q) (linear method).
  const std::vector<double> values{4, 1, 3, 2};
  CHECK(percentile(values, 0) == 1.0);
  CHECK(percentile(values, 100) == 4.0);
  CHECK(percentile(values, 50) == 2.5);
  CHECK(percentile(values, 25) == 1.75);
  CHECK(percentile(values, 2) == Approx(1.06).epsilon(1e-15));
  CHECK(percentile(values, 98) == Approx(3.94).epsilon(1e-15));
  CHECK(percentile({7}, 30) == 7.0);
  // NaNs are ignored (numpy.nanpercentile); empty or all-NaN gives NaN.
  CHECK(percentile({kNaN, 10, kNaN, 20}, 50) == 15.0);
  CHECK(std::isnan(percentile({}, 50)));
  CHECK(std::isnan(percentile({kNaN}, 50)));
  CHECK_THROWS_AS(percentile(values, -1), std::invalid_argument);
  CHECK_THROWS_AS(percentile(values, 100.5), std::invalid_argument);
  CHECK_THROWS_AS(percentile(values, kNaN), std::invalid_argument);
}

TEST_CASE("percentile of many values", "[math][stretch]") {
  // 0..999: the q-th percentile is q / 100 * 999 exactly (linear method).
  std::vector<double> values;
  for (int i = 999; i >= 0; --i) values.push_back(i);
  CHECK(percentile(values, 2) == Approx(19.98).epsilon(1e-14));
  CHECK(percentile(values, 98) == Approx(979.02).epsilon(1e-14));
}

TEST_CASE("stretchToByte maps lo..hi to 1..255 and NaN to 0", "[math][stretch]") {
  CHECK(stretchToByte(0, 0, 10) == 1);
  CHECK(stretchToByte(-5, 0, 10) == 1);
  CHECK(stretchToByte(10, 0, 10) == 255);
  CHECK(stretchToByte(1e30, 0, 10) == 255);
  CHECK(stretchToByte(5, 0, 10) == 128);    // 1 + 127
  CHECK(stretchToByte(2.5, 0, 10) == 65);   // 1 + round(63.5)
  CHECK(stretchToByte(-1, -2, 2) == 65);    // 1 + round(63.5)
  CHECK(stretchToByte(7.5, 0, 10) == 192);  // 1 + round(190.5)
  CHECK(stretchToByte(kNaN, 0, 10) == 0);
  CHECK(stretchToByte(std::numeric_limits<double>::infinity(), 0, 10) == 255);
  // A degenerate range carries no contrast: mid grey, still not no data.
  CHECK(stretchToByte(3, 5, 5) == 128);
  CHECK(stretchToByte(3, 6, 5) == 128);
  CHECK(stretchToByte(kNaN, 5, 5) == 0);
}
