#include "pixelfunctions/neighbors.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace vitfeat::math {

namespace {

constexpr Eigen::Index kQueryBlock = 512;

// Rows scaled to unit length (zero rows stay zero), so that cosine distance is
// 1 - dot product.
Eigen::MatrixXd unitRows(const Eigen::Ref<const Eigen::MatrixXd>& m) {
  Eigen::MatrixXd out = m;
  for (Eigen::Index i = 0; i < out.rows(); ++i) {
    const double norm = out.row(i).norm();
    if (norm > 0) out.row(i) /= norm;
  }
  return out;
}

}  // namespace

Metric parseMetric(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "euclidean") return Metric::Euclidean;
  if (lower == "cosine") return Metric::Cosine;
  throw std::invalid_argument("invalid metric '" + name + "': use euclidean or cosine");
}

const char* metricName(Metric metric) { return metric == Metric::Cosine ? "cosine" : "euclidean"; }

double distance(const Eigen::Ref<const Eigen::RowVectorXd>& a,
                const Eigen::Ref<const Eigen::RowVectorXd>& b, Metric metric) {
  if (metric == Metric::Euclidean) return (a - b).norm();
  const double na = a.norm(), nb = b.norm();
  if (na == 0 || nb == 0) return 1.0;
  return std::max(0.0, 1.0 - a.dot(b) / (na * nb));
}

Neighbors nearestNeighbors(const Eigen::Ref<const Eigen::MatrixXd>& reference,
                           const Eigen::Ref<const Eigen::MatrixXd>& queries, int k, Metric metric,
                           bool excludeSelf) {
  const Eigen::Index n = reference.rows(), m = queries.rows();
  if (reference.cols() != queries.cols())
    throw std::invalid_argument("nearestNeighbors: reference has " +
                                std::to_string(reference.cols()) + " features, queries " +
                                std::to_string(queries.cols()));
  if (excludeSelf && (n != m))
    throw std::invalid_argument(
        "nearestNeighbors: excludeSelf needs the queries to be the reference");
  const Eigen::Index candidates = excludeSelf ? n - 1 : n;
  if (k < 1 || k > candidates)
    throw std::invalid_argument("nearestNeighbors: invalid k=" + std::to_string(k) + ": " +
                                std::to_string(candidates) + " candidates");

  const bool cosine = metric == Metric::Cosine;
  const Eigen::MatrixXd ref = cosine ? unitRows(reference) : Eigen::MatrixXd(reference);
  const Eigen::VectorXd refNorms = ref.rowwise().squaredNorm();

  Neighbors out;
  out.index.resize(m, k);
  out.distance.resize(m, k);
  std::vector<Eigen::Index> order(static_cast<size_t>(n));
  for (Eigen::Index start = 0; start < m; start += kQueryBlock) {
    const Eigen::Index rows = std::min(kQueryBlock, m - start);
    const Eigen::MatrixXd q = cosine ? unitRows(queries.middleRows(start, rows))
                                     : Eigen::MatrixXd(queries.middleRows(start, rows));
    // Squared distances (Euclidean) or 1 - cos (cosine) for the block: the
    // product is the expensive part and runs as one matrix multiply.
    Eigen::MatrixXd dots = q * ref.transpose();  // rows x n
    for (Eigen::Index i = 0; i < rows; ++i) {
      const Eigen::Index query = start + i;
      const double queryNorm = q.row(i).squaredNorm();
      auto value = [&](Eigen::Index j) {
        if (cosine) return std::max(0.0, 1.0 - dots(i, j));
        return std::max(0.0, queryNorm + refNorms(j) - 2 * dots(i, j));
      };
      std::vector<double> d(static_cast<size_t>(n));
      for (Eigen::Index j = 0; j < n; ++j) d[static_cast<size_t>(j)] = value(j);
      std::iota(order.begin(), order.end(), 0);
      if (excludeSelf) {
        std::swap(order[static_cast<size_t>(query)], order.back());
      }
      const auto last = order.begin() + candidates;
      auto less = [&](Eigen::Index a, Eigen::Index b) {
        const double da = d[static_cast<size_t>(a)], db = d[static_cast<size_t>(b)];
        return da < db || (da == db && a < b);
      };
      std::partial_sort(order.begin(), order.begin() + k, last, less);
      // Euclidean distances of the chosen k recomputed directly (the expanded
      // form loses digits for near points), then put in order again.
      std::vector<std::pair<double, Eigen::Index>> chosen(static_cast<size_t>(k));
      for (int c = 0; c < k; ++c) {
        const Eigen::Index j = order[static_cast<size_t>(c)];
        chosen[static_cast<size_t>(c)] = {
            cosine ? d[static_cast<size_t>(j)] : (queries.row(query) - reference.row(j)).norm(), j};
      }
      std::sort(chosen.begin(), chosen.end());
      for (int c = 0; c < k; ++c) {
        out.distance(query, c) = chosen[static_cast<size_t>(c)].first;
        out.index(query, c) = static_cast<int>(chosen[static_cast<size_t>(c)].second);
      }
    }
  }
  return out;
}

}  // namespace vitfeat::math
