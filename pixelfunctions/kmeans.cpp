#include "pixelfunctions/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "pixelfunctions/random.h"

namespace vitfeat::math {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// Rows whose distances to the centres are computed in one matrix product:
// large enough for an efficient product, small enough that the temporaries
// (rows x d copies, rows x k scores) stay bounded for any d and k.
Index blockRows(Index d, Index k) {
  constexpr Index kMaxRows = 4096;
  constexpr Index kMaxValues = Index{1} << 22;  // 32 MiB of doubles
  return std::clamp(kMaxValues / std::max<Index>(1, std::max(d, k)), Index{1}, kMaxRows);
}

// Elkan's per-centre lower bounds cost n x k doubles; past this many clusters
// one bound per sample (Hamerly's, to the second-nearest centre) is kept.
constexpr Index kMaxBoundsPerSample = 32;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("k-means: " + message);
}

// Nearest centre of each row of `block`, written to labels[0..rows). Only
// ||c||^2 - 2 x.c is compared (||x||^2 is the same for every centre), from one
// matrix product for the whole block. Strict < keeps the lower label on ties.
void assignBlock(const Eigen::Ref<const MatrixXd>& block, const MatrixXd& centres,
                 const VectorXd& centreNorms, MatrixXd& scores, int* labels) {
  scores.noalias() = block * centres.transpose();
  const Index k = centres.rows();
  for (Index i = 0; i < block.rows(); ++i) {
    int best = 0;
    double bestValue = centreNorms(0) - 2 * scores(i, 0);
    for (Index j = 1; j < k; ++j) {
      const double value = centreNorms(j) - 2 * scores(i, j);
      if (value < bestValue) {
        bestValue = value;
        best = static_cast<int>(j);
      }
    }
    labels[i] = best;
  }
}

void assignAll(const Eigen::Ref<const MatrixXd>& samples, const MatrixXd& centres,
               std::vector<int>& labels) {
  const Index n = samples.rows();
  labels.resize(static_cast<size_t>(n));
  const VectorXd centreNorms = centres.rowwise().squaredNorm();
  const Index step = blockRows(samples.cols(), centres.rows());
  MatrixXd scores;
  for (Index r0 = 0; r0 < n; r0 += step) {
    const Index rows = std::min(step, n - r0);
    assignBlock(samples.middleRows(r0, rows), centres, centreNorms, scores, labels.data() + r0);
  }
}

// Sum of squared distances of the samples to their centres, computed directly
// (not from the expanded form, which loses digits when samples are close to
// their centres). Column by column, as the samples are stored.
double inertiaOf(const Eigen::Ref<const MatrixXd>& samples, const MatrixXd& centres,
                 const std::vector<int>& labels) {
  double total = 0;
  for (Index j = 0; j < samples.cols(); ++j) {
    for (Index i = 0; i < samples.rows(); ++i) {
      const double diff = samples(i, j) - centres(labels[static_cast<size_t>(i)], j);
      total += diff * diff;
    }
  }
  return total;
}

// Squared distances of every sample to each row of `points` (n x points.rows()),
// clamped at 0 against rounding in the expanded form.
MatrixXd squaredDistances(const Eigen::Ref<const MatrixXd>& samples, const VectorXd& sampleNorms,
                          const MatrixXd& points) {
  MatrixXd distances = -2 * (samples * points.transpose());
  distances.colwise() += sampleNorms;
  distances.rowwise() += points.rowwise().squaredNorm().transpose();
  return distances.cwiseMax(0.0);
}

// k-means++ seeding, greedy as in scikit-learn: each new centre is the best
// (lowest resulting potential) of 2 + floor(ln k) candidates drawn with
// probability proportional to their squared distance to the nearest centre.
MatrixXd seedPlusPlus(const Eigen::Ref<const MatrixXd>& samples, const VectorXd& sampleNorms, int k,
                      Random& random) {
  const Index n = samples.rows();
  MatrixXd centres(k, samples.cols());
  const auto first = static_cast<Index>(random.below(static_cast<uint64_t>(n)));
  centres.row(0) = samples.row(first);
  VectorXd closest = squaredDistances(samples, sampleNorms, centres.topRows(1)).col(0);

  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  std::vector<double> cumulative(static_cast<size_t>(n));
  MatrixXd candidatePoints(trials, samples.cols());
  for (int c = 1; c < k; ++c) {
    double running = 0;
    for (Index i = 0; i < n; ++i) cumulative[static_cast<size_t>(i)] = running += closest(i);
    for (int t = 0; t < trials; ++t) {
      const double target = random.uniform() * running;
      // The first sample whose cumulative weight exceeds the target: never a
      // zero-weight sample (one already chosen) unless all weights are zero.
      const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), target);
      const Index index = std::min<Index>(it - cumulative.begin(), n - 1);
      candidatePoints.row(t) = samples.row(index);
    }
    const MatrixXd distances = squaredDistances(samples, sampleNorms, candidatePoints);
    int best = 0;
    double bestPotential = std::numeric_limits<double>::infinity();
    for (int t = 0; t < trials; ++t) {
      const double potential = closest.cwiseMin(distances.col(t)).sum();
      if (potential < bestPotential) {
        bestPotential = potential;
        best = t;
      }
    }
    closest = closest.cwiseMin(distances.col(best));
    centres.row(c) = candidatePoints.row(best);
  }
  return centres;
}

struct Run {
  MatrixXd centres;
  std::vector<int> labels;
  double inertia = 0;
  int iterations = 0;
};

// Per-cluster sums and counts of the samples, column by column as the samples
// are stored.
void computeSums(const Eigen::Ref<const MatrixXd>& samples, const std::vector<int>& labels,
                 MatrixXd& sums, std::vector<int64_t>& counts) {
  sums.setZero();
  std::fill(counts.begin(), counts.end(), 0);
  for (int label : labels) ++counts[static_cast<size_t>(label)];
  for (Index j = 0; j < samples.cols(); ++j) {
    for (Index i = 0; i < samples.rows(); ++i) {
      sums(labels[static_cast<size_t>(i)], j) += samples(i, j);
    }
  }
}

// scikit-learn's relocation: each empty cluster takes one of the samples
// farthest from their current centre, which leaves its old cluster unless that
// would empty it. Returns whether anything moved.
bool relocateEmpty(const Eigen::Ref<const MatrixXd>& samples, const MatrixXd& centres,
                   const std::vector<int>& labels, MatrixXd& sums, std::vector<int64_t>& counts) {
  std::vector<Index> empty;
  for (Index c = 0; c < centres.rows(); ++c) {
    if (counts[static_cast<size_t>(c)] == 0) empty.push_back(c);
  }
  if (empty.empty()) return false;
  const Index n = samples.rows();
  VectorXd distance(n);
  for (Index i = 0; i < n; ++i) {
    distance(i) = (samples.row(i) - centres.row(labels[static_cast<size_t>(i)])).squaredNorm();
  }
  std::vector<Index> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  const auto farthest = order.begin() + static_cast<std::ptrdiff_t>(empty.size());
  std::partial_sort(order.begin(), farthest, order.end(), [&](Index a, Index b) {
    return distance(a) > distance(b) || (distance(a) == distance(b) && a < b);
  });
  for (size_t e = 0; e < empty.size(); ++e) {
    const Index sample = order[e];
    const auto from = static_cast<size_t>(labels[static_cast<size_t>(sample)]);
    if (counts[from] > 1) {
      sums.row(static_cast<Index>(from)) -= samples.row(sample);
      --counts[from];
    }
    sums.row(empty[e]) = samples.row(sample);
    counts[static_cast<size_t>(empty[e])] = 1;
  }
  return true;
}

// Lloyd iterations from `centres`, stopping when no label changes or the
// centres' total squared shift is at most tolerance (scikit-learn's rule).
//
// Most samples keep their label after the first few iterations, so each sample
// carries an upper bound on the distance to its centre and a lower bound on the
// distance to each centre (Elkan's bounds; past kMaxBoundsPerSample clusters
// one bound to the second-nearest centre, Hamerly's). When the centres move the
// bounds loosen by the moves; a sample whose upper bound stays below its lower
// bounds to every other centre cannot change label and is skipped. The bounds
// include the worst-case rounding of the expanded distance, so a skipped sample is one whose label
// the full computation would keep too: the labels are Lloyd's, only cheaper. Sums are updated by
// the samples that changed label rather than recomputed.
Run lloyd(const Eigen::Ref<const MatrixXd>& samples, const VectorXd& sampleNorms, MatrixXd centres,
          int maxIter, double tolerance) {
  const Index n = samples.rows();
  const Index d = samples.cols();
  const Index k = centres.rows();
  const Index step = blockRows(d, k);
  const bool perCentre = k <= kMaxBoundsPerSample;
  const auto boundCount = static_cast<size_t>(perCentre ? k : 1);
  const double infinity = std::numeric_limits<double>::infinity();
  // |rounding| of ||x||^2 - 2 x.c + ||c||^2 in any summation order is below
  // about 3 d u (||x||^2 + ||c||^2); this is comfortably above it.
  const double roundingScale = 8.0 * static_cast<double>(d + 4) * 0x1.0p-53;

  Run run;
  run.labels.assign(static_cast<size_t>(n), -1);
  std::vector<double> upper(static_cast<size_t>(n), infinity);
  // lower[i * boundCount + c]: lower bound on the distance of sample i to
  // centre c (per centre), or to every centre but its own (one bound).
  std::vector<double> lower(static_cast<size_t>(n) * boundCount, 0.0);
  MatrixXd sums(k, d);
  std::vector<int64_t> counts(static_cast<size_t>(k), 0);
  bool sumsValid = false;
  bool stable = false;

  std::vector<Index> active;
  std::vector<Index> changed;
  std::vector<int> previousLabel;
  MatrixXd gathered;
  MatrixXd scores;
  for (int iteration = 0; iteration < maxIter; ++iteration) {
    const VectorXd centreNorms = centres.rowwise().squaredNorm();
    const double largestCentreNorm = centreNorms.maxCoeff();
    changed.clear();
    previousLabel.clear();

    // The expanded distances of one sample from its row of scores (x.c for
    // every centre): new label (strict <: ties keep the lower label) and bounds.
    auto assign = [&](Index i, const double* rowScores, Index scoreStride) {
      const auto index = static_cast<size_t>(i);
      const double error = roundingScale * (sampleNorms(i) + largestCentreNorm);
      double* bounds = &lower[index * boundCount];
      int best = 0;
      double bestValue = infinity;
      double secondValue = infinity;
      for (Index c = 0; c < k; ++c) {
        const double value = centreNorms(c) - 2 * rowScores[c * scoreStride];
        if (perCentre) bounds[c] = std::sqrt(std::max(0.0, value + sampleNorms(i) - error));
        if (value < bestValue) {
          secondValue = bestValue;
          bestValue = value;
          best = static_cast<int>(c);
        } else if (value < secondValue) {
          secondValue = value;
        }
      }
      if (!perCentre) bounds[0] = std::sqrt(std::max(0.0, secondValue + sampleNorms(i) - error));
      upper[index] = std::sqrt(std::max(0.0, bestValue + sampleNorms(i)) + error);
      if (run.labels[index] != best) {
        changed.push_back(i);
        previousLabel.push_back(run.labels[index]);
        run.labels[index] = best;
      }
    };

    active.clear();
    for (Index i = 0; i < n; ++i) {
      const auto index = static_cast<size_t>(i);
      const int label = run.labels[index];
      const double* bounds = &lower[index * boundCount];
      if (!perCentre) {
        if (!(upper[index] < bounds[0])) active.push_back(i);
        continue;
      }
      for (Index c = 0; c < k; ++c) {
        if (c != label && !(upper[index] < bounds[c])) {
          active.push_back(i);
          break;
        }
      }
    }
    if (static_cast<Index>(active.size()) * 2 > n) {
      // Most samples need their distances: one product over all, no gathering.
      for (Index r0 = 0; r0 < n; r0 += step) {
        const Index rows = std::min(step, n - r0);
        scores.noalias() = samples.middleRows(r0, rows) * centres.transpose();
        for (Index r = 0; r < rows; ++r) assign(r0 + r, &scores(r, 0), scores.rows());
      }
    } else {
      for (size_t a0 = 0; a0 < active.size(); a0 += static_cast<size_t>(step)) {
        const auto rows =
            static_cast<Index>(std::min(static_cast<size_t>(step), active.size() - a0));
        gathered.resize(rows, d);
        for (Index j = 0; j < d; ++j) {
          for (Index r = 0; r < rows; ++r) gathered(r, j) = samples(active[a0 + r], j);
        }
        scores.noalias() = gathered * centres.transpose();
        for (Index r = 0; r < rows; ++r) assign(active[a0 + r], &scores(r, 0), scores.rows());
      }
    }

    // New centres: the sums follow the samples that changed label, unless many
    // did (then recomputing is as cheap and sheds accumulated rounding).
    if (!sumsValid || static_cast<Index>(changed.size()) * 8 > n) {
      computeSums(samples, run.labels, sums, counts);
      sumsValid = true;
    } else {
      for (size_t e = 0; e < changed.size(); ++e) {
        const Index i = changed[e];
        const Index from = previousLabel[e];
        const Index to = run.labels[static_cast<size_t>(i)];
        sums.row(from) -= samples.row(i);
        sums.row(to) += samples.row(i);
        --counts[static_cast<size_t>(from)];
        ++counts[static_cast<size_t>(to)];
      }
    }
    const bool relocated = relocateEmpty(samples, centres, run.labels, sums, counts);
    MatrixXd updated(k, d);
    for (Index c = 0; c < k; ++c) {
      updated.row(c) = sums.row(c) / static_cast<double>(counts[static_cast<size_t>(c)]);
    }

    // Loosen the bounds by how far the centres moved (with a margin for the
    // rounding of the moves themselves).
    VectorXd moved = (updated - centres).rowwise().norm() * (1 + 1e-10);
    const double shift = (updated - centres).squaredNorm();
    centres.swap(updated);
    if (relocated) {
      // The relocation moved samples between sums without relabelling them:
      // recompute everything next iteration.
      sumsValid = false;
      std::fill(upper.begin(), upper.end(), infinity);
    } else {
      // One bound: the farthest any other centre moved.
      Index fastest = 0;
      moved.maxCoeff(&fastest);
      double secondFastest = 0;
      for (Index c = 0; c < k; ++c) {
        if (c != fastest) secondFastest = std::max(secondFastest, moved(c));
      }
      for (Index i = 0; i < n; ++i) {
        const auto index = static_cast<size_t>(i);
        const int label = run.labels[index];
        upper[index] += moved(label);
        double* bounds = &lower[index * boundCount];
        if (perCentre) {
          for (Index c = 0; c < k; ++c) bounds[c] -= moved(c);
        } else {
          bounds[0] -= label == fastest ? secondFastest : moved(fastest);
        }
      }
    }

    run.iterations = iteration + 1;
    // A relocation moved a centre, so the labels still have to follow it.
    if (changed.empty() && !relocated) {
      stable = true;
      break;
    }
    if (shift <= tolerance) break;
  }
  // Unless the labels were already stable, the last update moved the centres:
  // label once more so that labels, sizes and inertia match the centres returned.
  if (!stable) assignAll(samples, centres, run.labels);
  run.inertia = inertiaOf(samples, centres, run.labels);
  run.centres = std::move(centres);
  return run;
}

}  // namespace

KMeansFit fitKMeans(const Eigen::Ref<const MatrixXd>& samples, const KMeansOptions& options) {
  const Index n = samples.rows();
  const Index d = samples.cols();
  if (d < 1) fail("the samples have no features (d = 0)");
  if (options.clusters < 1 || options.clusters > n) {
    fail("clusters = " + std::to_string(options.clusters) +
         " is invalid: it must be in [1, n] = [1, " + std::to_string(n) + "] (n samples)");
  }
  if (options.n_init < 1) {
    fail("n_init = " + std::to_string(options.n_init) + " is invalid: it must be >= 1");
  }
  if (options.max_iter < 1) {
    fail("max_iter = " + std::to_string(options.max_iter) + " is invalid: it must be >= 1");
  }
  if (!(options.tol >= 0)) {
    fail("tol = " + std::to_string(options.tol) + " is invalid: it must be >= 0");
  }
  if (!samples.allFinite()) fail("the samples contain NaN or infinite values");

  // scikit-learn scales tol by the mean per-feature variance, so that it does
  // not depend on the features' units.
  const VectorXd means = samples.colwise().mean().transpose();
  double varianceSum = 0;
  for (Index j = 0; j < d; ++j) {
    varianceSum += (samples.col(j).array() - means(j)).square().sum() / static_cast<double>(n);
  }
  const double tolerance = options.tol * varianceSum / static_cast<double>(d);
  const VectorXd sampleNorms = samples.rowwise().squaredNorm();

  // Each run draws from its own generator seeded from the master one, so run r
  // is the same whatever n_init is.
  Random master(options.seed);
  Run best;
  for (int r = 0; r < options.n_init; ++r) {
    Random random(master.next());
    MatrixXd seeds = seedPlusPlus(samples, sampleNorms, options.clusters, random);
    Run run = lloyd(samples, sampleNorms, std::move(seeds), options.max_iter, tolerance);
    if (r == 0 || run.inertia < best.inertia) best = std::move(run);
  }

  // Labels ordered by cluster size, largest first (ties: lower original label),
  // so that a fit reads the same whatever order the runs found the clusters in.
  const auto k = static_cast<size_t>(options.clusters);
  std::vector<int64_t> counts(k, 0);
  for (int label : best.labels) ++counts[static_cast<size_t>(label)];
  std::vector<size_t> order(k);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return counts[a] > counts[b]; });

  KMeansFit fit;
  fit.centroids.resize(options.clusters, d);
  fit.sizes.resize(k);
  for (size_t l = 0; l < k; ++l) {
    fit.centroids.row(static_cast<Index>(l)) = best.centres.row(static_cast<Index>(order[l]));
    fit.sizes[l] = counts[order[l]];
  }
  fit.inertia = best.inertia;  // a relabelling moves no sample
  fit.iterations = best.iterations;
  return fit;
}

void nearestCentroid(const Eigen::Ref<const MatrixXd>& centroids,
                     const Eigen::Ref<const Eigen::MatrixXf>& cells, std::vector<int>& labels) {
  if (centroids.rows() < 1) fail("no centroids");
  if (centroids.cols() != cells.cols()) {
    fail("cells have " + std::to_string(cells.cols()) + " features but the centroids have " +
         std::to_string(centroids.cols()));
  }
  const Index count = cells.rows();
  labels.resize(static_cast<size_t>(count));
  const MatrixXd centres = centroids;
  const VectorXd centreNorms = centres.rowwise().squaredNorm();
  const Index step = blockRows(cells.cols(), centres.rows());
  MatrixXd block;
  MatrixXd scores;
  for (Index r0 = 0; r0 < count; r0 += step) {
    const Index rows = std::min(step, count - r0);
    block = cells.middleRows(r0, rows).cast<double>();
    int* out = labels.data() + r0;
    assignBlock(block, centres, centreNorms, scores, out);
    for (Index i = 0; i < rows; ++i) {
      if (block.row(i).hasNaN()) out[i] = -1;
    }
  }
}

}  // namespace vitfeat::math
