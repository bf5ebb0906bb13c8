// Exact k-nearest-neighbour search by brute force on Eigen matrix products,
// shared by the kNN classifier, HDBSCAN and UMAP. Feature vectors have
// hundreds of dimensions, where k-d trees (nanoflann) degrade to a scan and
// approximate graphs (hnswlib) trade exactness and run-to-run determinism;
// blocked matrix products are exact, deterministic and fast at the sizes the
// views fit on (thousands of samples).
#pragma once

#include <Eigen/Dense>
#include <string>

namespace vitfeat::math {

enum class Metric { Euclidean, Cosine };

// "euclidean" or "cosine" (case-insensitive); throws std::invalid_argument
// naming the value and the valid ones.
Metric parseMetric(const std::string& name);
const char* metricName(Metric metric);

struct Neighbors {
  // queries x k: row i lists the k nearest reference rows of query i, nearest
  // first; equal distances are ordered by reference index.
  Eigen::MatrixXi index;
  // Matching distances: Euclidean distance, or cosine distance 1 - cos(a, b)
  // (a zero vector is at distance 1 from everything).
  Eigen::MatrixXd distance;
};

// Distance between two rows under `metric`, computed directly (the reference
// the blocked search is tested against, and for single pairs).
double distance(const Eigen::Ref<const Eigen::RowVectorXd>& a,
                const Eigen::Ref<const Eigen::RowVectorXd>& b, Metric metric);

// The k nearest rows of `reference` (n x d) to each row of `queries` (m x d).
// With excludeSelf, queries must be the reference itself and row i never
// lists i. k >= 1 and at most the number of candidates, else
// std::invalid_argument. Memory is bounded: queries go in blocks.
Neighbors nearestNeighbors(const Eigen::Ref<const Eigen::MatrixXd>& reference,
                           const Eigen::Ref<const Eigen::MatrixXd>& queries, int k, Metric metric,
                           bool excludeSelf = false);

}  // namespace vitfeat::math
