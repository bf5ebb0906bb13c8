#include "pixelfunctions/class_metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "pixelfunctions/random.h"

namespace vitfeat::math {

void checkTrainingLabels(const std::vector<int>& labels, int classes, int64_t samples,
                         const std::string& context) {
  auto fail = [&](const std::string& message) {
    throw std::invalid_argument(context + ": " + message);
  };
  if (classes < 1) fail("classes = " + std::to_string(classes) + " is invalid: it must be >= 1");
  if (static_cast<int64_t>(labels.size()) != samples) {
    fail(std::to_string(labels.size()) + " labels for " + std::to_string(samples) +
         " samples: there must be one label per sample");
  }
  std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      fail("label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) +
           " is invalid: labels must be in [0, " + std::to_string(classes - 1) + "]");
    }
    ++counts[static_cast<size_t>(labels[i])];
  }
  for (int c = 0; c < classes; ++c) {
    if (counts[static_cast<size_t>(c)] < 1) {
      fail("class " + std::to_string(c) + " has " + std::to_string(counts[static_cast<size_t>(c)]) +
           " samples: every class in [0, " + std::to_string(classes - 1) +
           "] needs at least 1 training sample");
    }
  }
}

void argmaxLabels(const Eigen::Ref<const Eigen::MatrixXd>& probabilities,
                  std::vector<int>& labels) {
  const Eigen::Index count = probabilities.rows();
  labels.resize(static_cast<size_t>(count));
  for (Eigen::Index i = 0; i < count; ++i) {
    int best = -1;
    double bestValue = 0;
    for (Eigen::Index c = 0; c < probabilities.cols(); ++c) {
      const double value = probabilities(i, c);
      if (std::isnan(value)) {
        best = -1;
        break;
      }
      // Strict >: a tie keeps the lower class.
      if (best < 0 || value > bestValue) {
        best = static_cast<int>(c);
        bestValue = value;
      }
    }
    labels[static_cast<size_t>(i)] = best;
  }
}

TrainTestSplit stratifiedSplit(const std::vector<int>& labels, int classes, double test_fraction,
                               uint64_t seed) {
  if (!(test_fraction >= 0 && test_fraction < 1)) {
    throw std::invalid_argument(
        "stratifiedSplit: test_fraction = " + std::to_string(test_fraction) +
        " is invalid: it must be in [0, 1)");
  }
  checkTrainingLabels(labels, classes, static_cast<int64_t>(labels.size()), "stratifiedSplit");
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(classes));
  for (size_t i = 0; i < labels.size(); ++i) {
    members[static_cast<size_t>(labels[i])].push_back(static_cast<int64_t>(i));
  }
  // One generator through the classes in order, so the split depends only on
  // the labels and the seed.
  Random random(seed);
  TrainTestSplit split;
  for (const auto& group : members) {
    const auto count = static_cast<uint64_t>(group.size());
    const auto wanted =
        static_cast<uint64_t>(std::llround(test_fraction * static_cast<double>(count)));
    const uint64_t toTest = std::min(wanted, count - 1);
    const std::vector<uint64_t> order = random.permutation(count);
    for (uint64_t r = 0; r < count; ++r) {
      (r < toTest ? split.test : split.train).push_back(group[static_cast<size_t>(order[r])]);
    }
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.test.begin(), split.test.end());
  return split;
}

ClassificationMetrics classificationMetrics(const std::vector<int>& truth,
                                            const std::vector<int>& predicted, int classes) {
  auto fail = [](const std::string& message) {
    throw std::invalid_argument("classificationMetrics: " + message);
  };
  if (classes < 1) fail("classes = " + std::to_string(classes) + " is invalid: it must be >= 1");
  if (truth.size() != predicted.size()) {
    fail(std::to_string(truth.size()) + " true labels but " + std::to_string(predicted.size()) +
         " predicted ones: they must be as many");
  }
  if (truth.empty()) fail("no samples: at least 1 is needed");
  const std::string valid = ": labels must be in [0, " + std::to_string(classes - 1) + "]";
  ClassificationMetrics metrics;
  metrics.confusion.setZero(classes, classes);
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || truth[i] >= classes) {
      fail("true label " + std::to_string(truth[i]) + " of sample " + std::to_string(i) +
           " is invalid" + valid);
    }
    if (predicted[i] < 0 || predicted[i] >= classes) {
      fail("predicted label " + std::to_string(predicted[i]) + " of sample " + std::to_string(i) +
           " is invalid" + valid);
    }
    ++metrics.confusion(truth[i], predicted[i]);
    correct += truth[i] == predicted[i];
  }
  metrics.accuracy = static_cast<double>(correct) / static_cast<double>(truth.size());
  const auto k = static_cast<size_t>(classes);
  metrics.precision.assign(k, 0.0);
  metrics.recall.assign(k, 0.0);
  metrics.f1.assign(k, 0.0);
  metrics.support.assign(k, 0);
  for (int c = 0; c < classes; ++c) {
    const auto index = static_cast<size_t>(c);
    const int64_t hits = metrics.confusion(c, c);
    const int64_t actual = metrics.confusion.row(c).sum();
    const int64_t claimed = metrics.confusion.col(c).sum();
    metrics.support[index] = actual;
    const double p = claimed > 0 ? static_cast<double>(hits) / static_cast<double>(claimed) : 0.0;
    const double r = actual > 0 ? static_cast<double>(hits) / static_cast<double>(actual) : 0.0;
    metrics.precision[index] = p;
    metrics.recall[index] = r;
    // Written as scikit-learn evaluates it, (2 p) r / (p + r), so the values
    // agree to the last bit.
    metrics.f1[index] = p + r > 0 ? 2.0 * p * r / (p + r) : 0.0;
  }
  return metrics;
}

}  // namespace vitfeat::math
