#include "pixelfunctions/cosine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace vitfeat::math {

namespace {

// Rows converted to double at once: bounds the temporary whatever the window.
constexpr Eigen::Index kBlockRows = 4096;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("cosine similarity: " + message);
}

}  // namespace

void cosineSimilarity(const Eigen::Ref<const Eigen::VectorXd>& reference,
                      const Eigen::Ref<const Eigen::MatrixXf>& cells,
                      Eigen::Ref<Eigen::VectorXf> out) {
  const Eigen::Index count = cells.rows();
  if (reference.size() != cells.cols()) {
    fail("cells have " + std::to_string(cells.cols()) + " features but the reference has " +
         std::to_string(reference.size()));
  }
  if (out.size() != count) {
    fail("output has " + std::to_string(out.size()) + " values for " + std::to_string(count) +
         " cells");
  }
  if (!reference.allFinite()) fail("the reference contains NaN or infinite values");
  const double referenceNorm = reference.norm();
  if (!(referenceNorm > 0)) fail("the reference vector is zero: its direction is undefined");

  const Eigen::VectorXd unit = reference / referenceNorm;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Eigen::MatrixXd block;
  Eigen::VectorXd dots;
  for (Eigen::Index r0 = 0; r0 < count; r0 += kBlockRows) {
    const Eigen::Index rows = std::min(kBlockRows, count - r0);
    block = cells.middleRows(r0, rows).cast<double>();
    dots.noalias() = block * unit;
    for (Eigen::Index i = 0; i < rows; ++i) {
      const double norm = block.row(i).norm();
      if (block.row(i).hasNaN() || !(norm > 0)) {
        out(r0 + i) = nan;
        continue;
      }
      // Rounding can put a parallel vector a hair outside [-1, 1].
      out(r0 + i) = static_cast<float>(std::clamp(dots(i) / norm, -1.0, 1.0));
    }
  }
}

void argmaxRows(const Eigen::Ref<const Eigen::MatrixXf>& scores, std::vector<int>& index) {
  index.assign(static_cast<size_t>(scores.rows()), -1);
  for (Eigen::Index i = 0; i < scores.rows(); ++i) {
    if (scores.cols() == 0 || scores.row(i).hasNaN()) continue;
    int best = 0;
    for (Eigen::Index j = 1; j < scores.cols(); ++j) {
      if (scores(i, j) > scores(i, best)) best = static_cast<int>(j);  // ties keep the lower column
    }
    index[static_cast<size_t>(i)] = best;
  }
}

}  // namespace vitfeat::math
