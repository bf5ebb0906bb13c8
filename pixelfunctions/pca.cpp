#include "pixelfunctions/pca.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace vitfeat::math {

namespace {

// Rows handled at once: bounds the double-precision temporaries to
// kBlockRows x d whatever the number of samples or cells.
constexpr Eigen::Index kBlockRows = 1024;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("PCA: " + message);
}

void requireComponent(const PcaFit& fit, int c) {
  if (c < 0 || c >= fit.components.rows()) {
    fail("component " + std::to_string(c) + " is invalid: the fit has components 0.." +
         std::to_string(fit.components.rows() - 1));
  }
}

double whitenScale(const PcaFit& fit, int c) {
  if (!fit.whiten) return 1.0;
  // A zero-variance component carries no signal; scikit-learn would divide by
  // zero there, we give 0 rather than infinities.
  const double variance = fit.explainedVariance(c);
  return variance > 0 ? 1.0 / std::sqrt(variance) : 0.0;
}

}  // namespace

PcaFit fitPca(const Eigen::Ref<const Eigen::MatrixXd>& samples, int k, bool whiten) {
  const Eigen::Index n = samples.rows();
  const Eigen::Index d = samples.cols();
  if (n < 2) fail(std::to_string(n) + " samples are too few: at least 2 are needed");
  if (d < 1) fail("the samples have no features (d = 0)");
  const Eigen::Index kMax = std::min(n, d);
  if (k < 1 || k > kMax) {
    fail("k = " + std::to_string(k) + " is invalid: it must be in [1, min(n, d)] = [1, " +
         std::to_string(kMax) + "]");
  }
  if (!samples.allFinite()) fail("the samples contain NaN or infinite values");

  PcaFit fit;
  fit.whiten = whiten;
  fit.mean = samples.colwise().mean().transpose();

  // Covariance of the centred samples, accumulated block by block with a
  // symmetric rank update (half the work of a full product, and no n x d copy).
  Eigen::MatrixXd covariance = Eigen::MatrixXd::Zero(d, d);
  Eigen::MatrixXd block;
  for (Eigen::Index r0 = 0; r0 < n; r0 += kBlockRows) {
    const Eigen::Index rows = std::min(kBlockRows, n - r0);
    block = samples.middleRows(r0, rows).rowwise() - fit.mean.transpose();
    covariance.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
  }
  covariance /= static_cast<double>(n - 1);
  const double totalVariance = covariance.diagonal().sum();

  // The solver reads only the lower triangle, which is what rankUpdate wrote.
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(covariance, Eigen::ComputeEigenvectors);
  if (solver.info() != Eigen::Success) fail("the eigen decomposition did not converge");

  fit.components.resize(k, d);
  fit.explainedVariance.resize(k);
  fit.explainedVarianceRatio.resize(k);
  for (int c = 0; c < k; ++c) {
    const Eigen::Index source = d - 1 - c;  // eigenvalues come in ascending order
    // Rounding can leave a zero eigenvalue slightly negative.
    const double variance = std::max(0.0, solver.eigenvalues()(source));
    Eigen::VectorXd direction = solver.eigenvectors().col(source);
    Eigen::Index largest = 0;
    direction.cwiseAbs().maxCoeff(&largest);
    if (direction(largest) < 0) direction = -direction;
    fit.components.row(c) = direction.transpose();
    fit.explainedVariance(c) = variance;
    fit.explainedVarianceRatio(c) = totalVariance > 0 ? variance / totalVariance : 0.0;
  }
  return fit;
}

Eigen::VectorXd projectionDirection(const PcaFit& fit, int c) {
  requireComponent(fit, c);
  return fit.components.row(c).transpose() * whitenScale(fit, c);
}

double projectionOffset(const PcaFit& fit, int c) {
  return projectionDirection(fit, c).dot(fit.mean);
}

void projectCentred(const Eigen::Ref<const Eigen::VectorXd>& mean,
                    const Eigen::Ref<const Eigen::MatrixXd>& directions,
                    const Eigen::Ref<const Eigen::MatrixXf>& cells,
                    Eigen::Ref<Eigen::MatrixXf> out) {
  const Eigen::Index count = cells.rows();
  const Eigen::Index d = cells.cols();
  if (mean.size() != d || directions.rows() != d) {
    fail("cells have " + std::to_string(d) + " features but the mean has " +
         std::to_string(mean.size()) + " and the directions " + std::to_string(directions.rows()));
  }
  if (out.rows() != count || out.cols() != directions.cols()) {
    fail("output is " + std::to_string(out.rows()) + " x " + std::to_string(out.cols()) +
         ", expected " + std::to_string(count) + " x " + std::to_string(directions.cols()));
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Eigen::MatrixXd centred;
  Eigen::MatrixXd projected;
  for (Eigen::Index r0 = 0; r0 < count; r0 += kBlockRows) {
    const Eigen::Index rows = std::min(kBlockRows, count - r0);
    centred = cells.middleRows(r0, rows).cast<double>().rowwise() - mean.transpose();
    projected.noalias() = centred * directions;
    out.middleRows(r0, rows) = projected.cast<float>();
    // A NaN already reaches every output through the product (NaN * 0 is NaN);
    // setting it explicitly keeps the contract independent of the product kernel.
    for (Eigen::Index i = 0; i < rows; ++i) {
      if (centred.row(i).hasNaN()) out.row(r0 + i).setConstant(nan);
    }
  }
}

void projectPca(const PcaFit& fit, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                Eigen::Ref<Eigen::MatrixXf> out) {
  const int k = static_cast<int>(fit.components.rows());
  Eigen::MatrixXd directions(fit.components.cols(), k);
  for (int c = 0; c < k; ++c) directions.col(c) = projectionDirection(fit, c);
  projectCentred(fit.mean, directions, cells, out);
}

}  // namespace vitfeat::math
