// Twelve Gaussian blobs of increasing spread in many dimensions, as ViT
// features of a scene might be, plus wide background noise; and cells drawn
// near the blob samples. Used by the HDBSCAN tests and bench/math_bench.cpp.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "tests/support/draw.h"

namespace vitfeat::test {

constexpr int kFeatureBlobs = 12;

struct FeatureBlobs {
  Eigen::MatrixXd samples;  // n x d, float-representable values
  std::vector<int> truth;   // blob of each sample, kFeatureBlobs for background noise
};

// Blob c (standard deviation 0.5 + 0.1 c) around a centre drawn with spread 2
// per feature. The first `clustered` samples go to the blobs in turn
// (sample i to blob i % 12), the rest are background noise (standard
// deviation 8 around the origin).
inline FeatureBlobs featureBlobs(Eigen::Index n, Eigen::Index clustered, Eigen::Index d,
                                 uint64_t seed) {
  Draw draw(seed);
  Eigen::MatrixXd centres(kFeatureBlobs, d);
  for (Eigen::Index c = 0; c < kFeatureBlobs; ++c) {
    for (Eigen::Index j = 0; j < d; ++j) centres(c, j) = 2.0 * draw.normal();
  }
  FeatureBlobs out;
  out.samples.resize(n, d);
  for (Eigen::Index i = 0; i < n; ++i) {
    const int c = i < clustered ? static_cast<int>(i % kFeatureBlobs) : kFeatureBlobs;
    const double spread = 0.5 + 0.1 * c;
    for (Eigen::Index j = 0; j < d; ++j) {
      const double value =
          c < kFeatureBlobs ? centres(c, j) + spread * draw.normal() : 8 * draw.normal();
      out.samples(i, j) = static_cast<float>(value);
    }
    out.truth.push_back(c);
  }
  return out;
}

// `count` cells, each a random one of the first `clustered` samples plus
// noise of standard deviation 0.2.
inline Eigen::MatrixXf cellsNear(const Eigen::MatrixXd& samples, Eigen::Index clustered,
                                 Eigen::Index count, uint64_t seed) {
  Eigen::MatrixXf cells(count, samples.cols());
  Draw draw(seed);
  for (Eigen::Index i = 0; i < count; ++i) {
    const auto source = static_cast<Eigen::Index>(draw.engine() % static_cast<uint64_t>(clustered));
    for (Eigen::Index j = 0; j < samples.cols(); ++j) {
      cells(i, j) = static_cast<float>(samples(source, j) + 0.2 * draw.normal());
    }
  }
  return cells;
}

}  // namespace vitfeat::test
