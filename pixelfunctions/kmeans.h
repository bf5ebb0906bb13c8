// k-means clustering of feature cells: k-means++ seeding, Lloyd iterations,
// the best of several seeded runs by inertia, and nearest-centroid labelling.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

namespace vitfeat::math {

struct KMeansOptions {
  int clusters = 8;
  int n_init = 4;      // independent k-means++ runs; the lowest inertia wins
  int max_iter = 300;  // Lloyd iterations per run
  double tol = 1e-4;   // stop when centroids move less than tol * mean feature variance
  uint64_t seed = 0;
};

struct KMeansFit {
  Eigen::MatrixXd centroids;   // k x d, label l is row l
  std::vector<int64_t> sizes;  // samples per label; labels ordered by size, largest first
  double inertia = 0;          // sum of squared distances of samples to their centroid
  int iterations = 0;          // Lloyd iterations of the winning run
};

// samples: n x d, no NaN, n >= clusters >= 1. Deterministic for a seed on every
// platform. Throws std::invalid_argument naming the offending value.
KMeansFit fitKMeans(const Eigen::Ref<const Eigen::MatrixXd>& samples, const KMeansOptions& options);

// Label (row of centroids) nearest to each cell; -1 for a cell with any NaN.
// cells: count x d, column-major as in projectPca.
void nearestCentroid(const Eigen::Ref<const Eigen::MatrixXd>& centroids,
                     const Eigen::Ref<const Eigen::MatrixXf>& cells, std::vector<int>& labels);

}  // namespace vitfeat::math
