// UMAP (McInnes, Healy & Melville 2018) of feature cells: fitting an embedding
// on a sample and placing new cells into it, following umap-learn 0.5's
// algorithm (exact kNN graph, smooth-knn-dist, fuzzy union, a/b curve fit,
// SGD with negative sampling; transform by the new point's membership in the
// fitted graph). Single-threaded, and every random draw comes from
// vitfeat::math::Random, so a fit is the same bit for bit in every run and
// process (on one platform: exp and pow come from the C library).
//
// Where it differs from umap-learn, and why:
//  * Initialisation is spectral, as umap-learn's default, but the eigenvectors
//    come from a dense solver (components up to 300 points) or a seeded
//    Chebyshev-filtered subspace iteration on the normalised graph (larger
//    ones), not ARPACK. A disconnected graph is laid out component by
//    component as umap-learn does, except that with more than
//    2 * n_components components their centres are placed by PCA of the
//    component centroids instead of a spectral embedding of the centroids'
//    affinities (deterministic, no second eigensolver).
//  * transform: each cell is placed on its own. umap-learn takes a few
//    quantities from the whole batch: the sigma floor when rho = 0 (here the
//    cell's own mean neighbour distance), the largest membership that sets
//    the sampling rates (here 1, the fit's reference, which umap-learn's
//    reaches as soon as a batch holds a fitted point), the epoch count (here
//    umap-learn's small-batch figure). The negative samples come from a
//    generator seeded by the model seed and the cell's values. So a cell's
//    result never depends on which other cells are in the same call or their
//    order.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <utility>

#include "pixelfunctions/neighbors.h"

namespace vitfeat::math {

struct UmapOptions {
  int n_components = 3;   // embedding dimensions, in [1, n - 1]
  int n_neighbors = 15;   // neighbourhood size including the point itself, in [2, n - 1]
  double min_dist = 0.1;  // in [0, spread]: how tightly the embedding may pack points
  double spread = 1.0;    // > 0: the scale of the embedded neighbourhoods
  Metric metric = Metric::Euclidean;
  int n_epochs = 0;  // SGD epochs; 0: 500 for n <= 10000, else 200 (umap-learn's)
  // SGD epochs placing a new cell; 0: as umap-learn, n_epochs / 3 when n_epochs
  // is set, else 100.
  int transform_epochs = 0;
  uint64_t seed = 0;
};

// A fitted model: everything transformUmap needs, as plain values, so that a
// caller can write it out (JSON, say) and read it back. Doubles must round-trip
// exactly (17 significant digits) for a reloaded model to transform bit for
// bit as the original; the fields hold no derived state.
struct UmapModel {
  Eigen::MatrixXd points;     // n x d: the training samples, as given to fitUmap
  Eigen::MatrixXd embedding;  // n x n_components: their fitted positions
  double a = 0;               // the curve 1 / (1 + a d^(2b)) fitted from min_dist and spread
  double b = 0;
  int n_neighbors = 15;  // fitted points a new cell connects to
  Metric metric = Metric::Euclidean;
  int epochs = 0;            // SGD epochs of the fit (n_epochs resolved)
  int transform_epochs = 0;  // SGD epochs per transformed cell (resolved, >= 1)
  uint64_t seed = 0;         // the fit's seed; also seeds each transformed cell's draws
  double min_dist = 0.1;     // for the record: a and b already encode them
  double spread = 1.0;
};

// umap-learn's find_ab_params: least squares fit (Levenberg-Marquardt from
// a = b = 1) of 1 / (1 + a x^(2b)) to 1 for x < min_dist and
// exp(-(x - min_dist) / spread) beyond, on 300 points of [0, 3 spread].
// Returns {a, b}. Throws std::invalid_argument as fitUmap for bad values.
std::pair<double, double> findUmapAbParams(double spread, double min_dist);

// samples: n x d, one cell per row, no NaN. Throws std::invalid_argument
// naming the offending value and the valid range. Deterministic for a seed.
UmapModel fitUmap(const Eigen::Ref<const Eigen::MatrixXd>& samples, const UmapOptions& options);

// Places new cells in the fitted embedding, as umap-learn's transform: each
// cell's n_neighbors nearest fitted points, their memberships by the
// smooth-knn procedure, the membership-weighted mean of their positions as a
// start, then transform_epochs of SGD moving only the new point (learning rate
// 1/4, decaying linearly) with the fitted embedding fixed.
// cells: count x d (column-major: one band per column, GDAL's band-sequential
// window layout); out: count x n_components. A cell with any NaN (or
// infinite) value gives NaN in every component. A cell's output depends only on the model and that
// cell's values. Throws std::invalid_argument for an inconsistent model or shapes.
void transformUmap(const UmapModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                   Eigen::Ref<Eigen::MatrixXf> out);

}  // namespace vitfeat::math
