// k-nearest-neighbour classifier: each cell takes the classes of its k nearest
// training samples (exact search, neighbors.h), every neighbour one vote.
#pragma once

#include <Eigen/Dense>
#include <vector>

#include "pixelfunctions/neighbors.h"

namespace vitfeat::math {

// The fitted model is the training set itself.
struct KnnModel {
  Eigen::MatrixXd samples;  // n x d training samples
  std::vector<int> labels;  // n classes in [0, classes)
  int classes = 0;
  int k = 5;
  Metric metric = Metric::Euclidean;
};

// samples: n x d, finite; labels: n values in [0, classes), every class
// present; 1 <= k <= n. Throws std::invalid_argument naming the offending
// value.
KnnModel fitKnn(const Eigen::Ref<const Eigen::MatrixXd>& samples, const std::vector<int>& labels,
                int classes, int k, Metric metric);

// The checks of fitKnn, for a model from elsewhere (e.g. read back from a file).
void validateKnn(const KnnModel& model);

// Probability of class c = the fraction of the k nearest training samples of
// class c (neighbours at equal distance are taken in training-sample order).
// cells: count x d, column-major as in nearestCentroid; out: count x classes;
// a cell with any NaN gets NaN in every column. The model is validated first.
void predictProba(const KnnModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                  Eigen::MatrixXd& out);

// The majority class of the k nearest samples, the lower class on a tied
// vote, -1 for a cell with any NaN (argmaxLabels of predictProba).
void predict(const KnnModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
             std::vector<int>& labels);

}  // namespace vitfeat::math
