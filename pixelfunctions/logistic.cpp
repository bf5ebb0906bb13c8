#include "pixelfunctions/logistic.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string>

#include "pixelfunctions/class_metrics.h"

namespace vitfeat::math {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("logistic regression: " + message);
}

// Cells per block in prediction: bounds the double copy of the cells.
constexpr Index kCellBlock = 4096;
// Past pairs kept by L-BFGS.
constexpr size_t kMemory = 10;

// Softmax of each row of `scores` in place, through the log-sum-exp so that
// large scores do not overflow. Returns sum_i log-sum-exp(row i).
double softmaxRows(MatrixXd& scores) {
  double total = 0;
  for (Index i = 0; i < scores.rows(); ++i) {
    const double top = scores.row(i).maxCoeff();
    double sum = 0;
    for (Index c = 0; c < scores.cols(); ++c) sum += std::exp(scores(i, c) - top);
    const double logSum = top + std::log(sum);
    for (Index c = 0; c < scores.cols(); ++c) scores(i, c) = std::exp(scores(i, c) - logSum);
    total += logSum;
  }
  return total;
}

// The objective over the standardised samples z (n x d): mean negative
// log-likelihood plus ||W||^2 / (2 C n), i.e. scikit-learn's objective divided
// by n, which keeps the gradient's scale independent of n. theta = [W | b]
// (classes x (d + 1)); gradient has the same shape.
class Objective {
 public:
  Objective(const MatrixXd& z, const std::vector<int>& labels, int classes, double C)
      : z_(z),
        labels_(labels),
        classes_(classes),
        penalty_(1.0 / (C * static_cast<double>(z.rows()))) {}

  double operator()(const MatrixXd& theta, MatrixXd& gradient) {
    const Index n = z_.rows();
    const Index d = z_.cols();
    const auto W = theta.leftCols(d);
    scores_.noalias() = z_ * W.transpose();
    scores_.rowwise() += theta.col(d).transpose();
    double loss = 0;
    for (Index i = 0; i < n; ++i) loss -= scores_(i, labels_[static_cast<size_t>(i)]);
    loss += softmaxRows(scores_);
    // scores_ now holds the probabilities; minus the one-hot labels it is the
    // derivative of the loss with respect to the scores.
    for (Index i = 0; i < n; ++i) scores_(i, labels_[static_cast<size_t>(i)]) -= 1;
    const double invN = 1.0 / static_cast<double>(n);
    gradient.resize(classes_, d + 1);
    gradient.leftCols(d).noalias() = invN * (scores_.transpose() * z_);
    gradient.leftCols(d) += penalty_ * W;
    gradient.col(d) = invN * scores_.colwise().sum().transpose();
    return loss * invN + 0.5 * penalty_ * W.squaredNorm();
  }

 private:
  const MatrixXd& z_;
  const std::vector<int>& labels_;
  const int classes_;
  const double penalty_;
  MatrixXd scores_;
};

double dot(const MatrixXd& a, const MatrixXd& b) { return a.cwiseProduct(b).sum(); }

}  // namespace

LogisticModel fitLogistic(const Eigen::Ref<const MatrixXd>& samples, const std::vector<int>& labels,
                          int classes, const LogisticOptions& options) {
  const Index n = samples.rows();
  const Index d = samples.cols();
  if (n < 1) fail("no training samples: at least 1 is needed");
  if (d < 1) fail("the samples have no features (d = 0)");
  if (!(options.C > 0) || !std::isfinite(options.C)) {
    fail("C = " + std::to_string(options.C) + " is invalid: it must be > 0 and finite");
  }
  if (options.max_iter < 1) {
    fail("max_iter = " + std::to_string(options.max_iter) + " is invalid: it must be >= 1");
  }
  if (!(options.tol >= 0)) {
    fail("tol = " + std::to_string(options.tol) + " is invalid: it must be >= 0");
  }
  checkTrainingLabels(labels, classes, n, "logistic regression");
  if (!samples.allFinite()) fail("the samples contain NaN or infinite values");

  LogisticModel model;
  model.classes = classes;
  model.mean = samples.colwise().mean().transpose();
  model.scale.resize(d);
  for (Index j = 0; j < d; ++j) {
    const double spread = std::sqrt((samples.col(j).array() - model.mean(j)).square().mean());
    // The mean of identical values can be off by an ulp, leaving a rounding
    // "spread" that standardising would blow up to unit size.
    const double largest = samples.col(j).cwiseAbs().maxCoeff();
    model.scale(j) = spread > 1e-9 * largest ? spread : 1.0;
  }
  const MatrixXd z = (samples.rowwise() - model.mean.transpose()).array().rowwise() /
                     model.scale.transpose().array();

  // L-BFGS (two-loop recursion) from zero, with a backtracking Armijo line
  // search. The problem is smooth and convex, so the first step that
  // decreases enough is a good one. Starting from zero also keeps the sum of
  // the intercepts at zero: the probabilities of a sample sum to 1, so no
  // gradient (nor any step built from gradients) shifts all intercepts alike.
  Objective objective(z, labels, classes, options.C);
  MatrixXd theta = MatrixXd::Zero(classes, d + 1);
  MatrixXd gradient;
  double value = objective(theta, gradient);
  std::deque<MatrixXd> steps, changes;  // s_k = theta_{k+1} - theta_k, y_k = g_{k+1} - g_k
  std::deque<double> curvatures;        // 1 / (y_k . s_k)
  MatrixXd direction, candidate, candidateGradient;
  std::vector<double> alphas;
  constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
  int iteration = 0;
  double largest = gradient.cwiseAbs().maxCoeff();
  while (largest > options.tol && iteration < options.max_iter) {
    direction = -gradient;
    alphas.assign(steps.size(), 0.0);
    for (size_t m = steps.size(); m-- > 0;) {
      alphas[m] = curvatures[m] * dot(steps[m], direction);
      direction -= alphas[m] * changes[m];
    }
    if (!steps.empty()) {
      direction *= dot(steps.back(), changes.back()) / changes.back().squaredNorm();
    } else {
      // No curvature known yet: a first step of length at most 1.
      direction /= std::max(1.0, direction.norm());
    }
    for (size_t m = 0; m < steps.size(); ++m) {
      const double beta = curvatures[m] * dot(changes[m], direction);
      direction += (alphas[m] - beta) * steps[m];
    }
    double slope = dot(gradient, direction);
    if (!(slope < 0)) {
      // Lost descent (rounding in the memory): restart from steepest descent.
      steps.clear();
      changes.clear();
      curvatures.clear();
      direction = -gradient / std::max(1.0, gradient.norm());
      slope = dot(gradient, direction);
    }

    double step = 1;
    bool accepted = false;
    double candidateValue = value;
    for (int tries = 0; tries < 60 && !accepted; ++tries, step *= 0.5) {
      candidate = theta + step * direction;
      candidateValue = objective(candidate, candidateGradient);
      // Near the optimum the decrease falls below the rounding of the
      // objective itself; a step that keeps the value within that rounding
      // and shrinks the gradient still makes progress.
      accepted = candidateValue <= value + 1e-4 * step * slope ||
                 (candidateValue <= value + 8 * kEpsilon * std::abs(value) &&
                  candidateGradient.cwiseAbs().maxCoeff() < largest);
    }
    if (!accepted) break;  // no representable progress along this direction
    ++iteration;

    MatrixXd s = candidate - theta;
    MatrixXd y = candidateGradient - gradient;
    const double sy = dot(s, y);
    // Keep only pairs with clearly positive curvature, so the implied inverse
    // Hessian stays positive definite.
    if (sy > kEpsilon * std::sqrt(s.squaredNorm() * y.squaredNorm())) {
      if (steps.size() == kMemory) {
        steps.pop_front();
        changes.pop_front();
        curvatures.pop_front();
      }
      steps.push_back(std::move(s));
      changes.push_back(std::move(y));
      curvatures.push_back(1.0 / sy);
    }
    theta.swap(candidate);
    gradient.swap(candidateGradient);
    value = candidateValue;
    largest = gradient.cwiseAbs().maxCoeff();
  }

  model.weights = theta.leftCols(d);
  model.intercepts = theta.col(d);
  model.intercepts.array() -= model.intercepts.mean();
  model.iterations = iteration;
  model.gradient = largest;
  model.converged = largest <= options.tol;
  return model;
}

void validateLogistic(const LogisticModel& model) {
  if (model.classes < 1) {
    fail("model classes = " + std::to_string(model.classes) + " is invalid: it must be >= 1");
  }
  const Index d = model.mean.size();
  if (d < 1) fail("the model has no features (mean has 0 values)");
  if (model.scale.size() != d || model.weights.rows() != model.classes ||
      model.weights.cols() != d || model.intercepts.size() != model.classes) {
    fail("inconsistent sizes: mean " + std::to_string(d) + ", scale " +
         std::to_string(model.scale.size()) + ", weights " + std::to_string(model.weights.rows()) +
         " x " + std::to_string(model.weights.cols()) + ", intercepts " +
         std::to_string(model.intercepts.size()) + " (must be d, d, classes x d, classes with " +
         std::to_string(model.classes) + " classes)");
  }
  if (!model.mean.allFinite() || !model.weights.allFinite() || !model.intercepts.allFinite()) {
    fail("the model contains NaN or infinite values");
  }
  for (Index j = 0; j < d; ++j) {
    if (!(model.scale(j) > 0) || !std::isfinite(model.scale(j))) {
      fail("scale " + std::to_string(model.scale(j)) + " of feature " + std::to_string(j) +
           " is invalid: it must be > 0 and finite");
    }
  }
}

void predictProba(const LogisticModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                  Eigen::MatrixXd& out) {
  validateLogistic(model);
  const Index d = model.mean.size();
  if (cells.cols() != d) {
    fail("cells have " + std::to_string(cells.cols()) + " features but the model has " +
         std::to_string(d));
  }
  // The standardisation folded into the weights: one product per block.
  const MatrixXd weights = model.weights.array().rowwise() / model.scale.transpose().array();
  const VectorXd intercepts = model.intercepts - weights * model.mean;
  const Index count = cells.rows();
  out.resize(count, model.classes);
  MatrixXd block;
  MatrixXd scores;
  for (Index r0 = 0; r0 < count; r0 += kCellBlock) {
    const Index rows = std::min(kCellBlock, count - r0);
    block = cells.middleRows(r0, rows).cast<double>();
    scores.noalias() = block * weights.transpose();
    scores.rowwise() += intercepts.transpose();
    softmaxRows(scores);
    for (Index i = 0; i < rows; ++i) {
      if (block.row(i).hasNaN())
        scores.row(i).setConstant(std::numeric_limits<double>::quiet_NaN());
    }
    out.middleRows(r0, rows) = scores;
  }
}

void predict(const LogisticModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
             std::vector<int>& labels) {
  Eigen::MatrixXd probabilities;
  predictProba(model, cells, probabilities);
  argmaxLabels(probabilities, labels);
}

}  // namespace vitfeat::math
