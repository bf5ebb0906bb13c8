// Display stretches: robust percentiles at fit time, Byte values at read time.
#pragma once

#include <vector>

namespace vitfeat::math {

// The q-th percentile (0..100) of values, linear interpolation between order
// statistics (numpy's default). NaNs are ignored; empty input gives NaN.
double percentile(std::vector<double> values, double q);

// v stretched from [lo, hi] to 1..255 (clamped); 0 for NaN (no data).
unsigned char stretchToByte(double v, double lo, double hi);

}  // namespace vitfeat::math
