// Blocked k-nearest-neighbour search against a direct scan of every pair.
#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "pixelfunctions/neighbors.h"

using vitfeat::math::Metric;
using vitfeat::math::nearestNeighbors;

namespace {

Eigen::MatrixXd randomRows(int n, int d, uint64_t seed) {
  std::mt19937_64 engine(seed);
  Eigen::MatrixXd m(n, d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) m(i, j) = static_cast<double>(engine() >> 40) / (1 << 24) - 0.5;
  return m;
}

void checkAgainstScan(const Eigen::MatrixXd& ref, const Eigen::MatrixXd& q, int k, Metric metric,
                      bool excludeSelf) {
  const auto found = nearestNeighbors(ref, q, k, metric, excludeSelf);
  REQUIRE(found.index.rows() == q.rows());
  REQUIRE(found.index.cols() == k);
  for (Eigen::Index i = 0; i < q.rows(); ++i) {
    std::vector<std::pair<double, int>> all;
    for (Eigen::Index j = 0; j < ref.rows(); ++j) {
      if (excludeSelf && j == i) continue;
      all.emplace_back(vitfeat::math::distance(q.row(i), ref.row(j), metric), static_cast<int>(j));
    }
    std::sort(all.begin(), all.end());
    for (int c = 0; c < k; ++c) {
      CHECK(found.index(i, c) == all[static_cast<size_t>(c)].second);
      CHECK(found.distance(i, c) == Approx(all[static_cast<size_t>(c)].first).margin(1e-12));
    }
  }
}

}  // namespace

TEST_CASE("nearest neighbours equal a direct scan, Euclidean and cosine, across query blocks") {
  const Eigen::MatrixXd ref = randomRows(700, 13, 1);
  const Eigen::MatrixXd q = randomRows(600, 13, 2);  // more than one block of 512
  checkAgainstScan(ref, q, 7, Metric::Euclidean, false);
  checkAgainstScan(ref, q, 7, Metric::Cosine, false);
  checkAgainstScan(ref, ref, 5, Metric::Euclidean, true);
  checkAgainstScan(ref, ref, 5, Metric::Cosine, true);
}

TEST_CASE("nearest neighbours: ties ordered by index, zero vectors, invalid arguments") {
  Eigen::MatrixXd ref(4, 2);
  ref << 1, 0, 1, 0, 0, 0, 2, 0;
  Eigen::MatrixXd q(1, 2);
  q << 1, 0;
  const auto e = nearestNeighbors(ref, q, 3, Metric::Euclidean);
  CHECK(e.index(0, 0) == 0);
  CHECK(e.index(0, 1) == 1);
  CHECK(e.distance(0, 2) == 1.0);
  const auto c = nearestNeighbors(ref, q, 4, Metric::Cosine);
  CHECK(c.index(0, 0) == 0);
  CHECK(c.index(0, 1) == 1);
  CHECK(c.index(0, 2) == 3);       // same direction as the query
  CHECK(c.distance(0, 3) == 1.0);  // the zero vector
  CHECK_THROWS_AS(nearestNeighbors(ref, q, 5, Metric::Euclidean), std::invalid_argument);
  CHECK_THROWS_AS(nearestNeighbors(ref, ref, 4, Metric::Euclidean, true), std::invalid_argument);
  CHECK_THROWS_AS(nearestNeighbors(ref, q, 0, Metric::Euclidean), std::invalid_argument);
  CHECK_THROWS_AS(vitfeat::math::parseMetric("manhattan"), std::invalid_argument);
  CHECK(vitfeat::math::parseMetric("Cosine") == Metric::Cosine);
}
