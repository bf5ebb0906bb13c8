// Principal component analysis of feature cells: fitting on a sample and
// projecting cells, the same numbers scikit-learn's PCA gives (centred
// projections, explained variance with an n - 1 denominator).
#pragma once

#include <Eigen/Dense>

namespace vitfeat::math {

struct PcaFit {
  Eigen::VectorXd mean;                    // d: the sample mean
  Eigen::MatrixXd components;              // k x d: unit directions, descending variance
  Eigen::VectorXd explainedVariance;       // k: variance along each component (n - 1)
  Eigen::VectorXd explainedVarianceRatio;  // k: explainedVariance / total variance
  bool whiten = false;                     // projections divided by sqrt(explainedVariance)
};

// samples: n x d, one cell per row, no NaN. k components, 1 <= k <= min(n, d);
// n >= 2. Each component's sign makes its largest-magnitude loading positive.
// Throws std::invalid_argument naming the offending value.
PcaFit fitPca(const Eigen::Ref<const Eigen::MatrixXd>& samples, int k, bool whiten);

// The direction and offset that give component c of a cell x as
// dot(direction, x) - offset (whitening folded into the direction).
Eigen::VectorXd projectionDirection(const PcaFit& fit, int c);
double projectionOffset(const PcaFit& fit, int c);

// cells: count x d (column-major: one band per column, exactly GDAL's
// band-sequential window layout). out: count x k. A cell with any NaN gives NaN
// in every component.
void projectPca(const PcaFit& fit, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                Eigen::Ref<Eigen::MatrixXf> out);

// The "apply" half shared by projectPca and the vitfeat_project pixel function:
// out(i, j) = dot(directions.col(j), cells.row(i) - mean), computed in double
// (centring first, so large feature offsets do not cancel). directions: d x m,
// out: count x m. A cell with any NaN gives NaN in every column.
void projectCentred(const Eigen::Ref<const Eigen::VectorXd>& mean,
                    const Eigen::Ref<const Eigen::MatrixXd>& directions,
                    const Eigen::Ref<const Eigen::MatrixXf>& cells,
                    Eigen::Ref<Eigen::MatrixXf> out);

}  // namespace vitfeat::math
