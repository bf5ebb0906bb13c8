// HDBSCAN clustering of feature cells (Campello, Moulavi & Sander 2013, with
// the choices of the reference `hdbscan` Python library): core distances,
// the minimum spanning tree of the mutual-reachability graph, the condensed
// cluster tree and the excess-of-mass selection; then the library's
// approximate_predict for new cells, one cell at a time.
//
// Unlike k-means it finds the number of clusters itself, follows clusters of
// any shape and density, and leaves the cells that belong to no dense region
// as noise (-1), which is what a map of "what is where" wants for background.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "pixelfunctions/neighbors.h"

namespace vitfeat::math {

struct HdbscanOptions {
  // Smallest group of samples that counts as a cluster (>= 2, <= n); smaller
  // groups that split off a cluster are points "falling out" of it.
  int min_cluster_size = 5;
  // Neighbourhood of the core distance, the sample itself counting as the
  // first neighbour (as in hdbscan and scikit-learn): 1 makes every core
  // distance 0. 0 means min_cluster_size. In [1, n].
  int min_samples = 0;
  Metric metric = Metric::Euclidean;
};

// Everything approximate prediction needs, as plain numbers so that a caller
// can write it to JSON and read it back (then build an HdbscanPredictor,
// which checks its consistency). n training samples of d features, k clusters.
//
// Lambdas are 1 / mutual-reachability distance, as in the condensed tree;
// a distance of 0 (coincident samples) gives lambda = +infinity, which a JSON
// writer has to encode explicitly (JSON has no infinity). Doubles written
// with 17 significant digits read back exactly, and so predict exactly as
// before the round trip.
struct HdbscanModel {
  Metric metric = Metric::Euclidean;
  int min_samples = 1;                // effective value (never 0)
  Eigen::MatrixXd points;             // n x d, the training samples
  Eigen::VectorXd core_distances;     // n: distance to the min_samples-th neighbour (self first)
  std::vector<int> labels;            // n: cluster of each training sample, -1 for noise
  std::vector<double> birth_lambdas;  // k: lambda at which the cluster split off its parent
  std::vector<double> max_lambdas;    // k: largest lambda in the cluster (where it ends)
};

struct HdbscanFit {
  HdbscanModel model;
  // n: membership strength of each training sample in [0, 1] (the library's
  // probabilities_): min(lambda at which it left the tree, max lambda of its
  // cluster) / that max lambda; 0 for noise.
  std::vector<double> strengths;
  std::vector<int64_t> sizes;       // k: samples per cluster, largest first
  std::vector<double> stabilities;  // k: excess of mass of each selected cluster
};

// samples: n x d, finite. Labels are ordered by cluster size, largest first
// (ties: the cluster found first in the tree). The root (all samples) is never
// a cluster (the library's allow_single_cluster=False): data with no split
// into two groups of at least min_cluster_size is all noise. Deterministic.
// Throws std::invalid_argument naming the offending value and the valid range.
//
// Cost: O(n^2 d) time (one kNN search, then Prim's algorithm on the complete
// mutual-reachability graph with distances computed row by row), O(n d) memory.
HdbscanFit fitHdbscan(const Eigen::Ref<const Eigen::MatrixXd>& samples,
                      const HdbscanOptions& options);

// Approximate prediction (hdbscan's approximate_predict) against a fitted
// model, prepared once (centred float copies of the training samples for the
// screening products) and then usable from several threads at once.
//
// A new cell x is placed where it would attach to the tree: its core distance
// is the distance to its min_samples-th nearest training sample; its mutual
// reachability to training sample j is max(core(x), core(j), d(x, j)); j* is
// the training sample with the smallest one (ties: the nearer, then the lower
// index), searched over all training samples rather than hdbscan's
// 2 * min_samples nearest (the same j* whenever it is among those). With
// lambda = 1 / that distance, the cell is noise if j* is noise or lambda is
// below the birth lambda of j*'s cluster; otherwise it takes j*'s cluster with
// strength min(lambda, max lambda) / max lambda. A training sample predicted
// this way gets its own training label back (unless two of its neighbours are
// equidistant to rounding).
//
// The result for a cell depends on that cell's values alone: distances are
// screened with blocked matrix products, but every distance that decides a
// result is recomputed directly for the pair, so batching never changes it.
class HdbscanPredictor {
 public:
  // Throws std::invalid_argument if the model is inconsistent (sizes, labels
  // out of range, min_samples outside [1, n], non-finite values).
  explicit HdbscanPredictor(HdbscanModel model);

  // cells: count x d, column-major (as in projectPca). labels: the cluster of
  // each cell or -1 (noise); strengths in [0, 1], 0 for noise. A cell with a
  // NaN or infinite value gets -1 and strength NaN.
  void predict(const Eigen::Ref<const Eigen::MatrixXf>& cells, std::vector<int>& labels,
               std::vector<float>& strengths) const;

  const HdbscanModel& model() const { return model_; }

 private:
  HdbscanModel model_;
  // Training samples as the direct distances read them, row-major: the
  // samples (Euclidean) or the samples scaled to unit length (cosine).
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows_;
  Eigen::RowVectorXd centre_;    // subtracted before the float products (Euclidean)
  Eigen::MatrixXf screen_;       // n x d float copy the screening products use
  Eigen::VectorXd screenNorms_;  // n: squared norms of screen_'s rows (Euclidean)
  double maxScreenLength_ = 0;   // the largest of their square roots
  Eigen::VectorXd coreKeys_;     // n: core distances squared (Euclidean) or as is (cosine)
};

// One-off convenience: HdbscanPredictor(model).predict(cells, labels, strengths).
// Prefer a kept predictor when predicting many blocks.
void predictHdbscan(const HdbscanModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                    std::vector<int>& labels, std::vector<float>& strengths);

}  // namespace vitfeat::math
