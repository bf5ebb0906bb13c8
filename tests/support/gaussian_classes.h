// Labelled Gaussian classes for the classifier tests (random forest, kNN,
// logistic regression): generated the same on every platform, so fits and
// the scikit-learn cross-checks see the same data everywhere.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace vitfeat::test {

struct Classes {
  Eigen::MatrixXd samples;  // n x d, float-representable values
  std::vector<int> labels;
};

// Gaussian classes (unit noise) around centres drawn with `spread` per
// feature, samples shuffled. std::mt19937_64 is fully specified; the normals
// are computed here, not by the standard library.
inline Classes gaussianClasses(const std::vector<int>& sizes, int d, double spread, uint64_t seed) {
  std::mt19937_64 engine(seed);
  auto uniform = [&] { return (static_cast<double>(engine() >> 11) + 0.5) * 0x1.0p-53; };
  auto normal = [&] {
    return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform());
  };
  const auto k = static_cast<int>(sizes.size());
  Eigen::MatrixXd centres(k, d);
  for (int c = 0; c < k; ++c) {
    for (int j = 0; j < d; ++j) centres(c, j) = spread * normal();
  }
  Classes out;
  for (int c = 0; c < k; ++c) out.labels.insert(out.labels.end(), static_cast<size_t>(sizes[c]), c);
  for (size_t i = out.labels.size(); i > 1; --i) {
    std::swap(out.labels[i - 1], out.labels[static_cast<size_t>(engine() % i)]);
  }
  out.samples.resize(static_cast<Eigen::Index>(out.labels.size()), d);
  for (size_t i = 0; i < out.labels.size(); ++i) {
    for (int j = 0; j < d; ++j) {
      out.samples(static_cast<Eigen::Index>(i), j) =
          static_cast<float>(centres(out.labels[i], j) + normal());
    }
  }
  return out;
}

inline Classes subset(const Classes& all, const std::vector<int64_t>& rows) {
  Classes out;
  out.samples.resize(static_cast<Eigen::Index>(rows.size()), all.samples.cols());
  for (size_t r = 0; r < rows.size(); ++r) {
    out.samples.row(static_cast<Eigen::Index>(r)) = all.samples.row(rows[r]);
    out.labels.push_back(all.labels[static_cast<size_t>(rows[r])]);
  }
  return out;
}

inline double accuracy(const std::vector<int>& truth, const std::vector<int>& predicted) {
  int right = 0;
  for (size_t i = 0; i < truth.size(); ++i) right += truth[i] == predicted[i];
  return static_cast<double>(right) / static_cast<double>(truth.size());
}

}  // namespace vitfeat::test
