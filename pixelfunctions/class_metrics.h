// Shared pieces of the supervised classifiers (random forest, kNN, logistic
// regression): checking training labels, turning class probabilities into
// labels, a stratified train/test split and the usual accuracy figures.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

namespace vitfeat::math {

// Throws std::invalid_argument (prefixed with `context`) unless classes >= 1,
// labels has `samples` entries, every label is in [0, classes) and every class
// has at least one sample: a class without training samples is almost always
// a mistake in the caller's class table, and it could never be predicted.
void checkTrainingLabels(const std::vector<int>& labels, int classes, int64_t samples,
                         const std::string& context);

// Per row of `probabilities` (count x classes): the class of highest
// probability, the lower class on ties, -1 for a row with any NaN.
void argmaxLabels(const Eigen::Ref<const Eigen::MatrixXd>& probabilities, std::vector<int>& labels);

struct TrainTestSplit {
  std::vector<int64_t> train;  // sample indices, increasing
  std::vector<int64_t> test;   // sample indices, increasing
};

// Splits the samples of each class separately, so that both parts keep the
// class proportions: a class of `count` samples sends round(test_fraction *
// count) of them (rounded half away from zero), chosen by a seeded shuffle, to
// the test part, but at most count - 1, so every class keeps at least one
// training sample (a class of one sample has none in test). test_fraction must
// be in [0, 1); labels as for checkTrainingLabels. Deterministic for a seed on
// every platform.
TrainTestSplit stratifiedSplit(const std::vector<int>& labels, int classes, double test_fraction,
                               uint64_t seed);

struct ClassificationMetrics {
  double accuracy = 0;  // fraction of samples whose predicted class is the true one
  // Per class. Precision = TP / predicted count, recall = TP / true count,
  // F1 = their harmonic mean; each is 0 when its denominator is 0 (scikit-learn's
  // zero_division=0).
  std::vector<double> precision;
  std::vector<double> recall;
  std::vector<double> f1;
  std::vector<int64_t> support;  // true samples of each class
  // classes x classes; (t, p) counts the samples of true class t predicted as p
  // (scikit-learn's confusion_matrix layout).
  Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic> confusion;
};

// truth and predicted: same non-zero length, every value in [0, classes).
ClassificationMetrics classificationMetrics(const std::vector<int>& truth,
                                            const std::vector<int>& predicted, int classes);

}  // namespace vitfeat::math
