// Multinomial logistic regression with an L2 penalty, as scikit-learn's
// LogisticRegression(multi_class="multinomial", penalty="l2") fitted on
// standardised features (StandardScaler).
#pragma once

#include <Eigen/Dense>
#include <vector>

namespace vitfeat::math {

struct LogisticOptions {
  // Inverse penalty strength, as scikit-learn's C: the fit minimises
  //   sum_i -log p(y_i | x_i)  +  ||weights||^2 / (2 C)
  // over the standardised features; the intercepts are not penalised.
  double C = 1.0;
  int max_iter = 1000;  // L-BFGS iterations
  // Converged when every component of the gradient of the objective divided
  // by n (the mean loss) is at most tol in magnitude.
  double tol = 1e-9;
};

struct LogisticModel {
  int classes = 0;
  // The features are always standardised before the fit, z = (x - mean) /
  // scale, so that the penalty treats every feature alike whatever its units
  // and the solver is well conditioned. mean and scale: d each; scale is the
  // population standard deviation of the training samples, 1 for a feature
  // that is constant (spread below 1e-9 of its largest magnitude).
  Eigen::VectorXd mean;
  Eigen::VectorXd scale;
  // classes x d, applied to the standardised features; intercepts: classes,
  // centred to sum 0 (a common shift of the intercepts changes nothing).
  // p(c | x) = softmax_c(weights * z + intercepts).
  Eigen::MatrixXd weights;
  Eigen::VectorXd intercepts;
  // How the fit ended (informative; prediction does not use them).
  int iterations = 0;
  double gradient = 0;  // largest |component| of the mean-loss gradient at the end
  bool converged = false;
};

// samples: n x d, finite; labels: n values in [0, classes), every class
// present. Deterministic (no randomness; L-BFGS from zero). Stops at tol or
// max_iter, or when rounding stops the line search (converged says which).
// Throws std::invalid_argument naming the offending value.
LogisticModel fitLogistic(const Eigen::Ref<const Eigen::MatrixXd>& samples,
                          const std::vector<int>& labels, int classes,
                          const LogisticOptions& options = {});

// Consistent sizes, finite values, scale > 0; throws std::invalid_argument
// naming the first problem.
void validateLogistic(const LogisticModel& model);

// Class probabilities (softmax) of each cell. cells: count x d, column-major
// as in nearestCentroid; out: count x classes; a cell with any NaN gets NaN in
// every column. The model is validated first.
void predictProba(const LogisticModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                  Eigen::MatrixXd& out);

// The most probable class, the lower one on ties, -1 for a cell with any NaN.
void predict(const LogisticModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
             std::vector<int>& labels);

}  // namespace vitfeat::math
