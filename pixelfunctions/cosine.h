// Cosine similarity of feature cells to reference vectors.
#pragma once

#include <Eigen/Dense>
#include <vector>

namespace vitfeat::math {

// out(i) = cos(cells.row(i), reference), in [-1, 1]; NaN for a cell with any
// NaN or a zero-length cell. reference must be non-zero (std::invalid_argument).
// cells: count x d, column-major as in projectPca.
void cosineSimilarity(const Eigen::Ref<const Eigen::VectorXd>& reference,
                      const Eigen::Ref<const Eigen::MatrixXf>& cells,
                      Eigen::Ref<Eigen::VectorXf> out);

// For each row of scores (count x m), the column of the largest value; -1
// where the row has a NaN.
void argmaxRows(const Eigen::Ref<const Eigen::MatrixXf>& scores, std::vector<int>& index);

}  // namespace vitfeat::math
