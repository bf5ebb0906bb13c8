// Random forest: hand-checkable trees, the options' documented effects,
// determinism, accuracy on separable classes, and agreement with
// scikit-learn's RandomForestClassifier (tests/python/check_sklearn.py).
#include <catch2/catch.hpp>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>

#include "pixelfunctions/class_metrics.h"
#include "pixelfunctions/random_forest.h"
#include "tests/support/gaussian_classes.h"
#include "tests/support/sklearn_check.h"

using vitfeat::math::DecisionTree;
using vitfeat::math::fitRandomForest;
using vitfeat::math::predict;
using vitfeat::math::predictProba;
using vitfeat::math::RandomForestModel;
using vitfeat::math::RandomForestOptions;
using vitfeat::math::resolveMaxFeatures;

using vitfeat::test::accuracy;
using vitfeat::test::Classes;
using vitfeat::test::gaussianClasses;
using vitfeat::test::subset;

namespace {

bool sameTrees(const DecisionTree& a, const DecisionTree& b) {
  return a.feature == b.feature && a.threshold == b.threshold && a.left == b.left &&
         a.right == b.right && a.value == b.value;
}

bool sameForest(const RandomForestModel& a, const RandomForestModel& b) {
  if (a.classes != b.classes || a.features != b.features || a.trees.size() != b.trees.size()) {
    return false;
  }
  for (size_t t = 0; t < a.trees.size(); ++t) {
    if (!sameTrees(a.trees[t], b.trees[t])) return false;
  }
  return true;
}

int depthOf(const DecisionTree& tree, int node = 0) {
  if (tree.feature[static_cast<size_t>(node)] < 0) return 0;
  return 1 + std::max(depthOf(tree, tree.left[static_cast<size_t>(node)]),
                      depthOf(tree, tree.right[static_cast<size_t>(node)]));
}

// The leaf each sample reaches, walking the tree directly.
int leafOf(const DecisionTree& tree, const Eigen::RowVectorXd& x) {
  int node = 0;
  while (tree.feature[static_cast<size_t>(node)] >= 0) {
    const auto n = static_cast<size_t>(node);
    node = x(tree.feature[n]) <= tree.threshold[n] ? tree.left[n] : tree.right[n];
  }
  return node;
}

}  // namespace

TEST_CASE("resolveMaxFeatures follows scikit-learn's rules", "[math][forest]") {
  CHECK(resolveMaxFeatures("sqrt", 192) == 13);
  CHECK(resolveMaxFeatures("SQRT", 16) == 4);
  CHECK(resolveMaxFeatures("sqrt", 15) == 3);
  CHECK(resolveMaxFeatures("sqrt", 1) == 1);
  CHECK(resolveMaxFeatures("log2", 192) == 7);
  CHECK(resolveMaxFeatures("log2", 256) == 8);
  CHECK(resolveMaxFeatures("log2", 1) == 1);
  CHECK(resolveMaxFeatures("all", 192) == 192);
  CHECK(resolveMaxFeatures("20", 192) == 20);
  CHECK(resolveMaxFeatures("192", 192) == 192);
  for (const char* bad : {"0", "193", "abc", "", "-3", "1.5", "99999999999"}) {
    CHECK_THROWS_WITH(resolveMaxFeatures(bad, 192),
                      Catch::Contains("max_features") && Catch::Contains("[1, 192]"));
  }
}

TEST_CASE("A single tree splits at the midpoint of distinct values", "[math][forest]") {
  // Feature 0 constant, feature 1 separates 0 and 1 between 2 and 3.
  Eigen::MatrixXd x(6, 2);
  x << 5, 0,  //
      5, 1,   //
      5, 2,   //
      5, 2,   //
      5, 3,   //
      5, 4;
  const std::vector<int> labels{0, 0, 0, 0, 1, 1};
  RandomForestOptions options;
  options.n_trees = 1;
  options.bootstrap = false;
  options.max_features = "1";  // the constant feature must not use up the one try
  for (uint64_t seed = 0; seed < 8; ++seed) {
    options.seed = seed;
    const RandomForestModel model = fitRandomForest(x, labels, 2, options);
    const DecisionTree& tree = model.trees[0];
    REQUIRE(tree.nodes() == 3);
    CHECK(tree.feature == std::vector<int>{1, -1, -1});
    CHECK(tree.threshold == std::vector<double>{2.5, 0, 0});
    CHECK(tree.left == std::vector<int>{1, -1, -1});
    CHECK(tree.right == std::vector<int>{2, -1, -1});
    CHECK(tree.value == std::vector<double>{4.0 / 6, 2.0 / 6, 1, 0, 0, 1});
  }
  // Cells on the threshold go left; NaN anywhere gives NaN and -1.
  RandomForestOptions one = options;
  const RandomForestModel model = fitRandomForest(x, labels, 2, one);
  Eigen::MatrixXf cells(4, 2);
  cells << 5, 2.5f,      //
      5, 2.5001f,        //
      std::nanf(""), 0,  //
      -100, -100;
  Eigen::MatrixXd proba;
  predictProba(model, cells, proba);
  CHECK(proba(0, 0) == 1);
  CHECK(proba(1, 1) == 1);
  CHECK(std::isnan(proba(2, 0)));
  CHECK(std::isnan(proba(2, 1)));
  CHECK(proba(3, 0) == 1);
  std::vector<int> labelsOut;
  predict(model, cells, labelsOut);
  CHECK(labelsOut == std::vector<int>{0, 1, -1, 0});
}

TEST_CASE("Float cells are compared with double thresholds exactly", "[math][forest]") {
  // Adjacent floats: the midpoint threshold lies strictly between them and is
  // no float itself, so a float comparison must still send a to the left and
  // b to the right.
  const float a = 1.1f;
  const float b = std::nextafter(a, 2.0f);
  Eigen::MatrixXd x(4, 1);
  x << a, a, b, b;
  RandomForestOptions options;
  options.n_trees = 1;
  options.bootstrap = false;
  const RandomForestModel model = fitRandomForest(x, {0, 0, 1, 1}, 2, options);
  const double threshold = model.trees[0].threshold[0];
  CHECK(threshold > static_cast<double>(a));
  CHECK(threshold < static_cast<double>(b));
  Eigen::MatrixXf cells(5, 1);
  cells << a, b, std::nextafter(a, 0.0f), std::numeric_limits<float>::infinity(),
      -std::numeric_limits<float>::infinity();
  std::vector<int> labels;
  predict(model, cells, labels);
  CHECK(labels == std::vector<int>{0, 1, 0, 1, 0});
}

TEST_CASE("Forest options have their documented effect", "[math][forest]") {
  const Classes data = gaussianClasses({150, 150, 100}, 8, 1.0, 21);
  RandomForestOptions options;
  options.n_trees = 3;

  SECTION("unlimited trees on all samples are pure: training data predicted exactly") {
    options.bootstrap = false;
    options.max_features = "all";
    const RandomForestModel model = fitRandomForest(data.samples, data.labels, 3, options);
    std::vector<int> labels;
    predict(model, data.samples.cast<float>(), labels);
    CHECK(labels == data.labels);
    for (const DecisionTree& tree : model.trees) {
      for (int node = 0; node < tree.nodes(); ++node) {
        if (tree.feature[static_cast<size_t>(node)] >= 0) continue;
        double top = 0;
        for (int c = 0; c < 3; ++c)
          top = std::max(top, tree.value[static_cast<size_t>(node * 3 + c)]);
        CHECK(top == 1);
      }
    }
  }
  SECTION("max_depth bounds the depth") {
    options.max_depth = 3;
    const RandomForestModel model = fitRandomForest(data.samples, data.labels, 3, options);
    for (const DecisionTree& tree : model.trees) CHECK(depthOf(tree) == 3);
  }
  SECTION("min_samples_leaf bounds the leaves' samples") {
    options.bootstrap = false;
    options.min_samples_leaf = 7;
    const RandomForestModel model = fitRandomForest(data.samples, data.labels, 3, options);
    for (const DecisionTree& tree : model.trees) {
      std::vector<int> reached(static_cast<size_t>(tree.nodes()), 0);
      for (Eigen::Index i = 0; i < data.samples.rows(); ++i) {
        ++reached[static_cast<size_t>(leafOf(tree, data.samples.row(i)))];
      }
      for (int node = 0; node < tree.nodes(); ++node) {
        if (tree.feature[static_cast<size_t>(node)] < 0) {
          CHECK(reached[static_cast<size_t>(node)] >= 7);
        }
      }
      CHECK(depthOf(tree) > 1);
    }
  }
  SECTION("children come after their parent, leaves have no children") {
    const RandomForestModel model = fitRandomForest(data.samples, data.labels, 3, options);
    for (const DecisionTree& tree : model.trees) {
      for (int node = 0; node < tree.nodes(); ++node) {
        const auto n = static_cast<size_t>(node);
        if (tree.feature[n] < 0) {
          CHECK(tree.left[n] == -1);
          CHECK(tree.right[n] == -1);
        } else {
          CHECK(tree.left[n] > node);
          CHECK(tree.right[n] > node);
        }
      }
    }
  }
}

TEST_CASE("Random forest separates well separated classes", "[math][forest]") {
  const Classes all = gaussianClasses({260, 240, 200, 180}, 32, 1.5, 4);
  const auto split = vitfeat::math::stratifiedSplit(all.labels, 4, 0.4, 1);
  const Classes train = subset(all, split.train);
  const Classes test = subset(all, split.test);
  RandomForestOptions options;
  options.seed = 5;
  const RandomForestModel model = fitRandomForest(train.samples, train.labels, 4, options);
  std::vector<int> labels;
  predict(model, test.samples.cast<float>(), labels);
  const double held = accuracy(test.labels, labels);
  std::cout << "random forest, 4 separated classes, d=32, " << train.labels.size() << " train / "
            << test.labels.size() << " test: held-out accuracy " << held << "\n";
  CHECK(held >= 0.95);
  // Probabilities are distributions.
  Eigen::MatrixXd proba;
  predictProba(model, test.samples.cast<float>(), proba);
  CHECK(proba.rows() == test.samples.rows());
  CHECK(proba.cols() == 4);
  CHECK((proba.rowwise().sum().array() - 1).abs().maxCoeff() < 1e-12);
  CHECK(proba.minCoeff() >= 0);
}

TEST_CASE("Random forest is deterministic for a seed", "[math][forest]") {
  const Classes data = gaussianClasses({200, 150, 150}, 16, 0.8, 8);
  RandomForestOptions options;
  options.n_trees = 20;
  options.seed = 77;
  const RandomForestModel a = fitRandomForest(data.samples, data.labels, 3, options);
  const RandomForestModel b = fitRandomForest(data.samples, data.labels, 3, options);
  CHECK(sameForest(a, b));
  Eigen::MatrixXd pa, pb;
  predictProba(a, data.samples.cast<float>(), pa);
  predictProba(b, data.samples.cast<float>(), pb);
  CHECK(pa == pb);

  // Tree t depends only on the seed and t.
  RandomForestOptions fewer = options;
  fewer.n_trees = 7;
  const RandomForestModel c = fitRandomForest(data.samples, data.labels, 3, fewer);
  for (size_t t = 0; t < c.trees.size(); ++t) CHECK(sameTrees(c.trees[t], a.trees[t]));

  RandomForestOptions other = options;
  other.seed = 78;
  const RandomForestModel d = fitRandomForest(data.samples, data.labels, 3, other);
  CHECK_FALSE(sameForest(a, d));
  CHECK_FALSE(sameTrees(a.trees[0], d.trees[0]));
}

TEST_CASE("Random forest rejects bad input", "[math][forest]") {
  const Classes data = gaussianClasses({20, 20}, 4, 1.0, 2);
  RandomForestOptions options;
  options.n_trees = 2;
  auto fit = [&](const RandomForestOptions& o) {
    return fitRandomForest(data.samples, data.labels, 2, o);
  };
  RandomForestOptions bad = options;
  bad.n_trees = 0;
  CHECK_THROWS_WITH(fit(bad), Catch::Contains("n_trees = 0") && Catch::Contains(">= 1"));
  bad = options;
  bad.min_samples_leaf = 0;
  CHECK_THROWS_WITH(fit(bad), Catch::Contains("min_samples_leaf = 0"));
  bad = options;
  bad.max_depth = -1;
  CHECK_THROWS_WITH(fit(bad), Catch::Contains("max_depth = -1"));
  bad = options;
  bad.max_features = "5";
  CHECK_THROWS_WITH(fit(bad), Catch::Contains("max_features 5") && Catch::Contains("[1, 4]"));
  CHECK_THROWS_WITH(fitRandomForest(data.samples, data.labels, 3, options),
                    Catch::Contains("class 2 has 0 samples"));
  std::vector<int> wrong = data.labels;
  wrong[3] = 7;
  CHECK_THROWS_WITH(fitRandomForest(data.samples, wrong, 2, options),
                    Catch::Contains("label 7 of sample 3"));
  Eigen::MatrixXd withNan = data.samples;
  withNan(1, 1) = std::nan("");
  CHECK_THROWS_WITH(fitRandomForest(withNan, data.labels, 2, options), Catch::Contains("NaN"));

  RandomForestModel model = fit(options);
  Eigen::MatrixXd proba;
  CHECK_THROWS_WITH(predictProba(model, Eigen::MatrixXf::Zero(3, 5), proba),
                    Catch::Contains("5 features") && Catch::Contains("has 4"));
  RandomForestModel broken = model;
  broken.trees[1].left[0] = 0;  // a cycle
  CHECK_THROWS_WITH(predictProba(broken, Eigen::MatrixXf::Zero(3, 4), proba),
                    Catch::Contains("tree 1 node 0") && Catch::Contains("after their parent"));
  broken = model;
  broken.trees[0].value.pop_back();
  CHECK_THROWS_WITH(vitfeat::math::validateRandomForest(broken),
                    Catch::Contains("tree 0 has inconsistent arrays"));
  broken = model;
  broken.trees[0].feature[0] = 4;
  CHECK_THROWS_WITH(vitfeat::math::validateRandomForest(broken),
                    Catch::Contains("feature 4") && Catch::Contains("[0, 3]"));
}

TEST_CASE("Random forest predicts like scikit-learn's", "[math][forest][sklearn]") {
  const std::string missing = vitfeat::test::sklearnMissing();
  if (!missing.empty()) {
    WARN("SKIPPED: random forest vs scikit-learn: " << missing);
    return;
  }
  // Overlapping classes (about 90% accuracy), so that the two forests are
  // compared near the class boundaries, not only far from them.
  const Classes all = gaussianClasses({350, 350, 300}, 12, 0.9, 31);
  const auto split = vitfeat::math::stratifiedSplit(all.labels, 3, 0.4, 2);
  const Classes train = subset(all, split.train);
  const Classes test = subset(all, split.test);
  RandomForestOptions options;
  const RandomForestModel model = fitRandomForest(train.samples, train.labels, 3, options);
  std::vector<int> predicted;
  predict(model, test.samples.cast<float>(), predicted);

  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajorD trainRows = train.samples;
  const RowMajorD testRows = test.samples;
  vitfeat::test::TempFolder folder;
  const auto& dir = folder.path();
  vitfeat::test::writeText(dir / "meta.txt", std::to_string(train.labels.size()) + " " +
                                                 std::to_string(test.labels.size()) + " 12 3\n");
  vitfeat::test::writeRaw(dir / "train.f64", trainRows.data(),
                          static_cast<size_t>(trainRows.size()));
  vitfeat::test::writeRaw(dir / "train_labels.i32", train.labels.data(), train.labels.size());
  vitfeat::test::writeRaw(dir / "test.f64", testRows.data(), static_cast<size_t>(testRows.size()));
  vitfeat::test::writeRaw(dir / "test_labels.i32", test.labels.data(), test.labels.size());
  vitfeat::test::writeRaw(dir / "predicted.i32", predicted.data(), predicted.size());
  const auto result = vitfeat::test::runSklearnCheck("forest", dir);
  std::cout << result.output;
  INFO(result.output);
  CHECK(result.status == 0);
}
