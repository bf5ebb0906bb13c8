// Multinomial logistic regression: optimality of the fit, the standardisation,
// determinism, accuracy on separable classes, and scikit-learn's
// LogisticRegression (tests/python/check_sklearn.py).
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

#include "pixelfunctions/class_metrics.h"
#include "pixelfunctions/logistic.h"
#include "tests/support/gaussian_classes.h"
#include "tests/support/sklearn_check.h"

using vitfeat::math::fitLogistic;
using vitfeat::math::LogisticModel;
using vitfeat::math::LogisticOptions;
using vitfeat::math::predict;
using vitfeat::math::predictProba;

using vitfeat::test::accuracy;
using vitfeat::test::Classes;
using vitfeat::test::gaussianClasses;
using vitfeat::test::subset;

TEST_CASE("Logistic regression separates well separated classes", "[math][logistic]") {
  const Classes all = gaussianClasses({260, 240, 200, 180}, 32, 1.5, 4);
  const auto split = vitfeat::math::stratifiedSplit(all.labels, 4, 0.4, 1);
  const Classes train = subset(all, split.train);
  const Classes test = subset(all, split.test);
  const auto start = std::chrono::steady_clock::now();
  const LogisticModel model = fitLogistic(train.samples, train.labels, 4);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<int> labels;
  predict(model, test.samples.cast<float>(), labels);
  const double held = accuracy(test.labels, labels);
  std::cout << "logistic regression, 4 separated classes, d=32, " << train.labels.size()
            << " train / " << test.labels.size() << " test: held-out accuracy " << held << ", "
            << model.iterations << " iterations, gradient " << model.gradient << ", " << seconds
            << " s\n";
  CHECK(held >= 0.95);
  CHECK(model.converged);
  CHECK(model.gradient <= LogisticOptions().tol);
  CHECK(std::abs(model.intercepts.sum()) < 1e-12);

  // Many features and six closer classes (a view's 192-band features; the
  // logistic workload of bench/math_bench.cpp): the fit still converges.
  const Classes wide = gaussianClasses({600, 600, 500, 500, 400, 400}, 192, 0.15, 12);
  const LogisticModel wideModel = fitLogistic(wide.samples, wide.labels, 6);
  CHECK(wideModel.converged);
  CHECK(wideModel.gradient <= LogisticOptions().tol);
}

TEST_CASE("Logistic regression reaches the optimum of its documented objective",
          "[math][logistic]") {
  // Recompute the gradient of sum_i -log p(y_i) + ||W||^2 / (2C) at the fit,
  // independently (per sample, no matrix products), on overlapping classes.
  const Classes data = gaussianClasses({120, 100, 80}, 6, 0.7, 9);
  LogisticOptions options;
  options.C = 0.5;
  const LogisticModel model = fitLogistic(data.samples, data.labels, 3, options);
  REQUIRE(model.converged);
  const Eigen::Index n = data.samples.rows();
  Eigen::MatrixXd gradW = model.weights / options.C;
  Eigen::VectorXd gradB = Eigen::VectorXd::Zero(3);
  for (Eigen::Index i = 0; i < n; ++i) {
    const Eigen::VectorXd z =
        ((data.samples.row(i).transpose() - model.mean).array() / model.scale.array()).matrix();
    Eigen::VectorXd s = model.weights * z + model.intercepts;
    s = (s.array() - s.maxCoeff()).exp();
    s /= s.sum();
    s(data.labels[static_cast<size_t>(i)]) -= 1;
    gradW += s * z.transpose();
    gradB += s;
  }
  const double largest = std::max(gradW.cwiseAbs().maxCoeff(), gradB.cwiseAbs().maxCoeff());
  INFO("largest gradient component (sum objective) " << largest);
  CHECK(largest < 1e-9 * static_cast<double>(n) * 10);
  // The standardisation: population mean and standard deviation.
  for (Eigen::Index j = 0; j < 6; ++j) {
    const double mean = data.samples.col(j).mean();
    const double sd = std::sqrt((data.samples.col(j).array() - mean).square().mean());
    CHECK(model.mean(j) == Approx(mean).epsilon(1e-14));
    CHECK(model.scale(j) == Approx(sd).epsilon(1e-12));
  }
}

TEST_CASE("Logistic regression does not depend on the features' units", "[math][logistic]") {
  // Rescaled and shifted features standardise to the same values (up to
  // rounding), so the fit in standardised space is the same.
  const Classes data = gaussianClasses({100, 100, 100}, 5, 0.8, 13);
  Eigen::MatrixXd changed = data.samples;
  changed.col(1) *= 1000;
  changed.col(3) *= 1.0 / 64;
  changed.col(4).array() += 4096;
  const LogisticModel a = fitLogistic(data.samples, data.labels, 3);
  const LogisticModel b = fitLogistic(changed, data.labels, 3);
  CHECK((a.weights - b.weights).cwiseAbs().maxCoeff() < 1e-7);
  CHECK((a.intercepts - b.intercepts).cwiseAbs().maxCoeff() < 1e-7);
  CHECK(b.scale(1) == Approx(1000 * a.scale(1)).epsilon(1e-12));
  CHECK(b.mean(4) == Approx(4096 + a.mean(4)).epsilon(1e-12));
  // Scaled by a power of two only, the cells stay exact in float.
  Eigen::MatrixXd halved = data.samples;
  halved.col(2) *= 0.5;
  const LogisticModel c = fitLogistic(halved, data.labels, 3);
  Eigen::MatrixXd pa, pc;
  predictProba(a, data.samples.cast<float>(), pa);
  predictProba(c, halved.cast<float>(), pc);
  CHECK((pa - pc).cwiseAbs().maxCoeff() < 1e-9);
  CHECK((pa.rowwise().sum().array() - 1).abs().maxCoeff() < 1e-12);
}

TEST_CASE("Logistic regression is deterministic and handles constant features and NaN cells",
          "[math][logistic]") {
  Classes data = gaussianClasses({80, 70, 60}, 8, 0.9, 21);
  data.samples.col(2).setConstant(0.1);  // constant: scale 1, mean 0.1
  const LogisticModel a = fitLogistic(data.samples, data.labels, 3);
  const LogisticModel b = fitLogistic(data.samples, data.labels, 3);
  CHECK(a.weights == b.weights);
  CHECK(a.intercepts == b.intercepts);
  CHECK(a.mean == b.mean);
  CHECK(a.scale == b.scale);
  CHECK(a.scale(2) == 1);
  CHECK(a.weights.col(2).cwiseAbs().maxCoeff() < 1e-9);  // only the penalty acts on it
  Eigen::MatrixXf cells = data.samples.topRows(3).cast<float>();
  cells(1, 5) = std::nanf("");
  Eigen::MatrixXd pa, pb;
  predictProba(a, cells, pa);
  predictProba(b, cells, pb);
  CHECK(pa.row(0) == pb.row(0));
  CHECK(pa.row(1).array().isNaN().all());
  std::vector<int> labels;
  predict(a, cells, labels);
  CHECK(labels[1] == -1);
  CHECK(labels[0] >= 0);
}

TEST_CASE("Logistic regression rejects bad input", "[math][logistic]") {
  const Classes data = gaussianClasses({20, 20}, 4, 1.0, 2);
  LogisticOptions bad;
  bad.C = 0;
  CHECK_THROWS_WITH(fitLogistic(data.samples, data.labels, 2, bad),
                    Catch::Contains("C = 0") && Catch::Contains("> 0"));
  bad = LogisticOptions();
  bad.max_iter = 0;
  CHECK_THROWS_WITH(fitLogistic(data.samples, data.labels, 2, bad),
                    Catch::Contains("max_iter = 0"));
  bad = LogisticOptions();
  bad.tol = -1;
  CHECK_THROWS_WITH(fitLogistic(data.samples, data.labels, 2, bad), Catch::Contains("tol = -1"));
  CHECK_THROWS_WITH(fitLogistic(data.samples, data.labels, 3),
                    Catch::Contains("class 2 has 0 samples"));
  Eigen::MatrixXd withNan = data.samples;
  withNan(0, 0) = std::nan("");
  CHECK_THROWS_WITH(fitLogistic(withNan, data.labels, 2), Catch::Contains("NaN"));

  LogisticModel model = fitLogistic(data.samples, data.labels, 2);
  Eigen::MatrixXd proba;
  CHECK_THROWS_WITH(predictProba(model, Eigen::MatrixXf::Zero(2, 3), proba),
                    Catch::Contains("3 features") && Catch::Contains("has 4"));
  LogisticModel broken = model;
  broken.scale(1) = 0;
  CHECK_THROWS_WITH(predictProba(broken, Eigen::MatrixXf::Zero(2, 4), proba),
                    Catch::Contains("scale 0") && Catch::Contains("feature 1"));
  broken = model;
  broken.intercepts.resize(3);
  CHECK_THROWS_WITH(vitfeat::math::validateLogistic(broken), Catch::Contains("inconsistent sizes"));
}

namespace {

// Overlapping classes, so that the probabilities are not all 0 or 1.
void checkLogisticAgainstSklearn(double C) {
  const std::string missing = vitfeat::test::sklearnMissing();
  if (!missing.empty()) {
    WARN("SKIPPED: logistic regression vs scikit-learn: " << missing);
    return;
  }
  const Classes all = gaussianClasses({350, 350, 300}, 12, 0.5, 31);
  const auto split = vitfeat::math::stratifiedSplit(all.labels, 3, 0.4, 2);
  const Classes train = subset(all, split.train);
  const Classes test = subset(all, split.test);
  LogisticOptions options;
  options.C = C;
  const LogisticModel model = fitLogistic(train.samples, train.labels, 3, options);
  Eigen::MatrixXd proba;
  predictProba(model, test.samples.cast<float>(), proba);

  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajorD trainRows = train.samples;
  const RowMajorD testRows = test.samples;
  const RowMajorD probaRows = proba;
  vitfeat::test::TempFolder folder;
  const auto& dir = folder.path();
  std::ostringstream meta;
  meta.precision(17);
  meta << train.labels.size() << " " << test.labels.size() << " 12 3 " << C << "\n";
  vitfeat::test::writeText(dir / "meta.txt", meta.str());
  vitfeat::test::writeRaw(dir / "train.f64", trainRows.data(),
                          static_cast<size_t>(trainRows.size()));
  vitfeat::test::writeRaw(dir / "train_labels.i32", train.labels.data(), train.labels.size());
  vitfeat::test::writeRaw(dir / "test.f64", testRows.data(), static_cast<size_t>(testRows.size()));
  vitfeat::test::writeRaw(dir / "mean.f64", model.mean.data(), 12);
  vitfeat::test::writeRaw(dir / "scale.f64", model.scale.data(), 12);
  vitfeat::test::writeRaw(dir / "proba.f64", probaRows.data(),
                          static_cast<size_t>(probaRows.size()));
  const auto result = vitfeat::test::runSklearnCheck("logistic", dir);
  std::cout << "C = " << C << ": " << model.iterations << " iterations, gradient " << model.gradient
            << "\n"
            << result.output;
  INFO(result.output);
  CHECK(result.status == 0);
}

}  // namespace

TEST_CASE("Logistic regression probabilities equal scikit-learn's", "[math][logistic][sklearn]") {
  checkLogisticAgainstSklearn(1.0);
}

TEST_CASE("Logistic regression with a strong penalty equals scikit-learn's",
          "[math][logistic][sklearn]") {
  checkLogisticAgainstSklearn(0.05);  // checks the penalty's scale as well
}
