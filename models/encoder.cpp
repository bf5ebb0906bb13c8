#include "models/encoder.h"

#include <numeric>

namespace vitfeat {

std::vector<float> perChannel(const std::vector<float>& values, int n) {
  if (values.empty() || n <= 0) return {};
  if (static_cast<int>(values.size()) == n) return values;
  if (n == 1) {
    // A 1-band input uses the sum of the RGB filters, i.e. it is treated as grey.
    const double sum = std::accumulate(values.begin(), values.end(), 0.0);
    return {static_cast<float>(sum / values.size())};
  }
  std::vector<float> out(n);
  for (int i = 0; i < n; ++i) out[i] = values[i % values.size()];
  return out;
}

}  // namespace vitfeat
