// A random-forest classifier in the manner of scikit-learn's
// RandomForestClassifier: CART trees grown on bootstrap samples with Gini
// impurity, a random subset of the features tried at each node, and class
// probabilities averaged over the trees.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

namespace vitfeat::math {

struct RandomForestOptions {
  int n_trees = 100;
  // Features tried at each node: "sqrt" (floor(sqrt(d)), at least 1), "log2"
  // (floor(log2(d)), at least 1), "all" (d), or a count in [1, d] such as "20".
  // As in scikit-learn, a feature constant over the node's samples does not
  // count towards this number.
  std::string max_features = "sqrt";
  int max_depth = 0;         // deepest split level; 0 = grow until the leaves are pure
  int min_samples_leaf = 1;  // distinct training samples each child must keep
  bool bootstrap = true;     // each tree on n samples drawn with replacement, else on all
  uint64_t seed = 0;
};

// One tree as flat arrays indexed by node, root first. Children always have
// higher indices than their parent (nodes are numbered depth first, left
// before right), so a walk from the root always ends in a leaf.
struct DecisionTree {
  // Split feature of each node (column of the samples), -1 for a leaf.
  std::vector<int> feature;
  // A sample goes left when sample[feature] <= threshold; 0 for a leaf.
  std::vector<double> threshold;
  // Child node indices; -1 for a leaf.
  std::vector<int> left;
  std::vector<int> right;
  // nodes x classes, row-major: value[node * classes + c] is the fraction of
  // the node's training samples (counted with their bootstrap multiplicity)
  // of class c. Stored for every node; prediction uses the leaves'.
  std::vector<double> value;

  int nodes() const { return static_cast<int>(feature.size()); }
};

struct RandomForestModel {
  int classes = 0;
  int features = 0;  // d, the columns the cells must have
  std::vector<DecisionTree> trees;
};

// The number of features tried per node for `spec` (see
// RandomForestOptions::max_features, case-insensitive) and d features.
int resolveMaxFeatures(const std::string& spec, int d);

// samples: n x d, finite; labels: n values in [0, classes), every class
// present. Deterministic for a seed on every platform; tree t depends only on
// the seed and t, not on n_trees. Throws std::invalid_argument naming the
// offending value.
RandomForestModel fitRandomForest(const Eigen::Ref<const Eigen::MatrixXd>& samples,
                                  const std::vector<int>& labels, int classes,
                                  const RandomForestOptions& options);

// Checks a model from elsewhere (e.g. read back from a file) before it is
// used: consistent array sizes, features and children in range, children
// after their parent. Throws std::invalid_argument naming the first problem.
void validateRandomForest(const RandomForestModel& model);

// Class probabilities of each cell: the mean over the trees of the leaf
// values. cells: count x d, column-major as in nearestCentroid; out: count x
// classes; a cell with any NaN gets NaN in every column. The model is
// validated first.
void predictProba(const RandomForestModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                  Eigen::MatrixXd& out);

// argmaxLabels of predictProba: the most probable class, the lower one on
// ties, -1 for a cell with any NaN.
void predict(const RandomForestModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
             std::vector<int>& labels);

}  // namespace vitfeat::math
