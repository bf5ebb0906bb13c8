// Gaussian classes for the UMAP tests and bench/math_bench.cpp: unit noise
// around centres drawn with `spread` per feature. Training and new points come
// from the same centres (the seed fixes them); the draw of each set has its
// own stream. Samples are shuffled so that the classes interleave. Values are
// float-representable (cells are float).
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace vitfeat::test {

class ClassCentres {
 public:
  ClassCentres(int classes, int d, double spread, uint64_t seed) : centres_(classes, d) {
    std::mt19937_64 engine(seed);
    for (int c = 0; c < classes; ++c) {
      for (int j = 0; j < d; ++j) centres_(c, j) = spread * normal(engine);
    }
  }
  // n points, classes in turn then shuffled; labels[i] is the class of row i.
  Eigen::MatrixXd draw(int n, uint64_t seed, std::vector<int>& labels) const {
    std::mt19937_64 engine(seed);
    labels.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % centres_.rows();
    for (size_t i = labels.size(); i > 1; --i) {
      std::swap(labels[i - 1], labels[static_cast<size_t>(engine() % i)]);
    }
    Eigen::MatrixXd x(n, centres_.cols());
    for (int i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < centres_.cols(); ++j) {
        x(i, j) = static_cast<float>(centres_(labels[static_cast<size_t>(i)], j) + normal(engine));
      }
    }
    return x;
  }

 private:
  static double normal(std::mt19937_64& engine) {
    auto uniform = [&] { return (static_cast<double>(engine() >> 11) + 0.5) * 0x1.0p-53; };
    return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform());
  }
  Eigen::MatrixXd centres_;
};

}  // namespace vitfeat::test
