#include "pixelfunctions/knn_classifier.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "pixelfunctions/class_metrics.h"

namespace vitfeat::math {

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("kNN classifier: " + message);
}

// Cells searched per nearestNeighbors call: bounds the queries copied to
// double and the neighbour tables, whatever the number of cells.
constexpr Eigen::Index kCellBlock = 4096;

}  // namespace

void validateKnn(const KnnModel& model) {
  const Eigen::Index n = model.samples.rows();
  if (n < 1) fail("no training samples: at least 1 is needed");
  if (model.samples.cols() < 1) fail("the training samples have no features (d = 0)");
  if (model.k < 1 || model.k > n) {
    fail("k = " + std::to_string(model.k) + " is invalid: it must be in [1, " + std::to_string(n) +
         "] (the training samples)");
  }
  checkTrainingLabels(model.labels, model.classes, n, "kNN classifier");
  if (!model.samples.allFinite()) fail("the training samples contain NaN or infinite values");
}

KnnModel fitKnn(const Eigen::Ref<const Eigen::MatrixXd>& samples, const std::vector<int>& labels,
                int classes, int k, Metric metric) {
  KnnModel model;
  model.samples = samples;
  model.labels = labels;
  model.classes = classes;
  model.k = k;
  model.metric = metric;
  validateKnn(model);
  return model;
}

void predictProba(const KnnModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                  Eigen::MatrixXd& out) {
  validateKnn(model);
  if (cells.cols() != model.samples.cols()) {
    fail("cells have " + std::to_string(cells.cols()) + " features but the training samples have " +
         std::to_string(model.samples.cols()));
  }
  const Eigen::Index count = cells.rows();
  out.setConstant(count, model.classes, std::numeric_limits<double>::quiet_NaN());
  std::vector<Eigen::Index> rows;
  Eigen::MatrixXd queries;
  for (Eigen::Index r0 = 0; r0 < count; r0 += kCellBlock) {
    const Eigen::Index r1 = std::min(count, r0 + kCellBlock);
    rows.clear();
    for (Eigen::Index i = r0; i < r1; ++i) {
      if (!cells.row(i).hasNaN()) rows.push_back(i);
    }
    if (rows.empty()) continue;
    queries.resize(static_cast<Eigen::Index>(rows.size()), cells.cols());
    for (Eigen::Index j = 0; j < cells.cols(); ++j) {
      for (size_t q = 0; q < rows.size(); ++q) {
        queries(static_cast<Eigen::Index>(q), j) = cells(rows[q], j);
      }
    }
    const Neighbors found = nearestNeighbors(model.samples, queries, model.k, model.metric);
    for (size_t q = 0; q < rows.size(); ++q) {
      const Eigen::Index i = rows[q];
      out.row(i).setZero();
      // Counts divided once: equal vote counts give exactly equal
      // probabilities, so argmaxLabels resolves a tied vote to the lower class.
      for (int m = 0; m < model.k; ++m) {
        const int neighbour = found.index(static_cast<Eigen::Index>(q), m);
        out(i, model.labels[static_cast<size_t>(neighbour)]) += 1;
      }
      out.row(i) /= static_cast<double>(model.k);
    }
  }
}

void predict(const KnnModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
             std::vector<int>& labels) {
  Eigen::MatrixXd probabilities;
  predictProba(model, cells, probabilities);
  argmaxLabels(probabilities, labels);
}

}  // namespace vitfeat::math
