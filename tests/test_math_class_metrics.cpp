// Stratified split and classification metrics: hand-counted cases, the
// documented rounding rules, and scikit-learn's metrics
// (tests/python/check_sklearn.py).
#include <catch2/catch.hpp>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>

#include "pixelfunctions/class_metrics.h"
#include "tests/support/sklearn_check.h"

using vitfeat::math::argmaxLabels;
using vitfeat::math::checkTrainingLabels;
using vitfeat::math::classificationMetrics;
using vitfeat::math::ClassificationMetrics;
using vitfeat::math::stratifiedSplit;
using vitfeat::math::TrainTestSplit;

namespace {

std::vector<int> labelsOfSizes(const std::vector<int>& sizes) {
  // Interleaved, so that a class's samples are not one contiguous run.
  std::vector<int> labels;
  std::vector<int> left = sizes;
  bool any = true;
  while (any) {
    any = false;
    for (size_t c = 0; c < left.size(); ++c) {
      if (left[c] > 0) {
        labels.push_back(static_cast<int>(c));
        --left[c];
        any = true;
      }
    }
  }
  return labels;
}

}  // namespace

TEST_CASE("stratifiedSplit keeps class proportions by the documented rounding",
          "[math][classify]") {
  // 10 * 0.25 = 2.5 rounds to 3; 1 sample keeps it in train; 2 * 0.25 = 0.5
  // rounds to 1; 4 * 0.25 = 1.
  const std::vector<int> sizes{10, 1, 2, 4, 40};
  const std::vector<int> labels = labelsOfSizes(sizes);
  const TrainTestSplit split = stratifiedSplit(labels, 5, 0.25, 7);
  std::vector<int> inTest(5, 0);
  std::vector<int> inTrain(5, 0);
  for (int64_t i : split.test) ++inTest[static_cast<size_t>(labels[static_cast<size_t>(i)])];
  for (int64_t i : split.train) ++inTrain[static_cast<size_t>(labels[static_cast<size_t>(i)])];
  CHECK(inTest == std::vector<int>{3, 0, 1, 1, 10});
  CHECK(inTrain == std::vector<int>{7, 1, 1, 3, 30});
  // Both increasing, disjoint and together every sample once.
  std::vector<int> seen(labels.size(), 0);
  for (const auto* part : {&split.train, &split.test}) {
    CHECK(std::is_sorted(part->begin(), part->end()));
    for (int64_t i : *part) ++seen[static_cast<size_t>(i)];
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));

  // A fraction that would take every sample still leaves one in train.
  const TrainTestSplit most = stratifiedSplit(labels, 5, 0.99, 7);
  CHECK(most.train.size() == 5);
  // Fraction 0: everything trains.
  CHECK(stratifiedSplit(labels, 5, 0.0, 7).test.empty());
}

TEST_CASE("stratifiedSplit is deterministic for a seed", "[math][classify]") {
  const std::vector<int> labels = labelsOfSizes({50, 30, 20});
  const TrainTestSplit a = stratifiedSplit(labels, 3, 0.3, 11);
  const TrainTestSplit b = stratifiedSplit(labels, 3, 0.3, 11);
  const TrainTestSplit c = stratifiedSplit(labels, 3, 0.3, 12);
  CHECK(a.train == b.train);
  CHECK(a.test == b.test);
  CHECK(a.test.size() == c.test.size());
  CHECK(a.test != c.test);
}

TEST_CASE("stratifiedSplit and checkTrainingLabels reject bad input", "[math][classify]") {
  const std::vector<int> labels{0, 1, 1, 0};
  CHECK_THROWS_WITH(stratifiedSplit(labels, 2, 1.0, 0), Catch::Contains("test_fraction = 1"));
  CHECK_THROWS_WITH(stratifiedSplit(labels, 2, -0.1, 0), Catch::Contains("[0, 1)"));
  CHECK_THROWS_WITH(stratifiedSplit(labels, 2, std::nan(""), 0), Catch::Contains("test_fraction"));
  CHECK_THROWS_WITH(stratifiedSplit(labels, 3, 0.5, 0),
                    Catch::Contains("class 2 has 0 samples") && Catch::Contains("at least 1"));
  CHECK_THROWS_WITH(stratifiedSplit({0, 2, 1}, 2, 0.5, 0),
                    Catch::Contains("label 2 of sample 1") && Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(stratifiedSplit({0, -1}, 2, 0.5, 0), Catch::Contains("label -1"));
  CHECK_THROWS_WITH(checkTrainingLabels(labels, 0, 4, "here"),
                    Catch::StartsWith("here: ") && Catch::Contains("classes = 0"));
  CHECK_THROWS_WITH(checkTrainingLabels(labels, 2, 5, "here"),
                    Catch::Contains("4 labels for 5 samples"));
  CHECK_NOTHROW(checkTrainingLabels(labels, 2, 4, "here"));
}

TEST_CASE("argmaxLabels gives ties to the lower class and NaN rows -1", "[math][classify]") {
  Eigen::MatrixXd p(4, 3);
  p << 0.2, 0.5, 0.3,             //
      0.4, 0.2, 0.4,              // tie between 0 and 2
      0.3, std::nan(""), 0.7,     // any NaN
      1.0 / 3, 1.0 / 3, 1.0 / 3;  // three-way tie
  std::vector<int> labels;
  argmaxLabels(p, labels);
  CHECK(labels == std::vector<int>{1, 0, -1, 0});
}

TEST_CASE("classificationMetrics matches a hand count", "[math][classify]") {
  // Class 2 is never predicted (precision 0 by zero_division=0), class 3 never
  // true (recall 0, support 0) but predicted once.
  const std::vector<int> truth{0, 0, 0, 1, 1, 2, 2, 0};
  const std::vector<int> predicted{0, 0, 1, 1, 0, 1, 3, 0};
  const ClassificationMetrics m = classificationMetrics(truth, predicted, 4);
  CHECK(m.accuracy == 4.0 / 8);
  Eigen::Matrix<int64_t, 4, 4> confusion;
  confusion << 3, 1, 0, 0,  //
      1, 1, 0, 0,           //
      0, 1, 0, 1,           //
      0, 0, 0, 0;
  CHECK(m.confusion == confusion);
  CHECK(m.support == std::vector<int64_t>{4, 2, 2, 0});
  CHECK(m.precision == std::vector<double>{3.0 / 4, 1.0 / 3, 0, 0});
  CHECK(m.recall == std::vector<double>{3.0 / 4, 1.0 / 2, 0, 0});
  CHECK(m.f1[0] == Approx(0.75));
  CHECK(m.f1[1] == Approx(2 * (1.0 / 3) * 0.5 / (1.0 / 3 + 0.5)));
  CHECK(m.f1[2] == 0);
  CHECK(m.f1[3] == 0);

  CHECK_THROWS_WITH(classificationMetrics(truth, {0, 1}, 4), Catch::Contains("8 true labels"));
  CHECK_THROWS_WITH(classificationMetrics({}, {}, 4), Catch::Contains("no samples"));
  CHECK_THROWS_WITH(classificationMetrics({0, 4}, {0, 1}, 4),
                    Catch::Contains("true label 4 of sample 1") && Catch::Contains("[0, 3]"));
  CHECK_THROWS_WITH(classificationMetrics({0, 1}, {0, -1}, 4),
                    Catch::Contains("predicted label -1"));
  CHECK_THROWS_WITH(classificationMetrics({0}, {0}, 0), Catch::Contains("classes = 0"));
}

TEST_CASE("classificationMetrics equals scikit-learn's exactly", "[math][classify][sklearn]") {
  const std::string missing = vitfeat::test::sklearnMissing();
  if (!missing.empty()) {
    WARN("SKIPPED: classification metrics vs scikit-learn: " << missing);
    return;
  }
  // 6 classes: mostly right, class 4 never predicted, class 5 never true.
  std::mt19937_64 engine(3);
  const int n = 997;
  std::vector<int> truth(n), predicted(n);
  for (int i = 0; i < n; ++i) {
    truth[static_cast<size_t>(i)] = static_cast<int>(engine() % 5);
    const int guess =
        engine() % 3 == 0 ? static_cast<int>(engine() % 6) : truth[static_cast<size_t>(i)];
    predicted[static_cast<size_t>(i)] = guess == 4 ? 5 : guess;
  }
  const ClassificationMetrics m = classificationMetrics(truth, predicted, 6);
  CHECK(m.precision[4] == 0);
  CHECK(m.support[5] == 0);

  using RowMajorI64 = Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajorI64 confusion = m.confusion;
  vitfeat::test::TempFolder folder;
  const auto& dir = folder.path();
  vitfeat::test::writeText(dir / "meta.txt", std::to_string(n) + " 6\n");
  vitfeat::test::writeRaw(dir / "truth.i32", truth.data(), truth.size());
  vitfeat::test::writeRaw(dir / "predicted.i32", predicted.data(), predicted.size());
  vitfeat::test::writeRaw(dir / "accuracy.f64", &m.accuracy, 1);
  vitfeat::test::writeRaw(dir / "precision.f64", m.precision.data(), m.precision.size());
  vitfeat::test::writeRaw(dir / "recall.f64", m.recall.data(), m.recall.size());
  vitfeat::test::writeRaw(dir / "f1.f64", m.f1.data(), m.f1.size());
  vitfeat::test::writeRaw(dir / "support.i64", m.support.data(), m.support.size());
  vitfeat::test::writeRaw(dir / "confusion.i64", confusion.data(),
                          static_cast<size_t>(confusion.size()));
  const auto result = vitfeat::test::runSklearnCheck("metrics", dir);
  std::cout << result.output;
  INFO(result.output);
  CHECK(result.status == 0);
}
