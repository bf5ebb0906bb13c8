#include "pixelfunctions/umap.h"

#include <Eigen/Sparse>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pixelfunctions/random.h"

namespace vitfeat::math {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// umap-learn's constants (umap_.py and layouts.py).
constexpr double kSmoothKTolerance = 1e-5;   // stop the sigma search this close to log2(k)
constexpr int kSmoothKIterations = 64;       // bisection steps of the sigma search
constexpr double kMinKDistScale = 1e-3;      // sigma floor, as a fraction of the mean distance
constexpr double kNegativeSampleRate = 5;    // negative samples per positive one
constexpr double kGradientClip = 4;          // every gradient component is clipped to +-4
constexpr double kRepulsionStrength = 1;     // gamma
constexpr double kRepulsionEpsilon = 0.001;  // keeps the repulsion finite at distance 0
constexpr double kInitialAlpha = 1.0;        // learning rate of the fit; transform uses 1/4
constexpr double kInitScale = 10;            // initial layouts span [0, 10] per component
constexpr double kInitNoise = 1e-4;          // standard deviation of the initial jitter
constexpr int kDefaultTransformEpochs = 100;

// Components up to this size get their eigenvectors from a dense solver
// (exact, at most a few tens of milliseconds); larger ones from subspace
// iteration on the sparse graph.
constexpr Index kDenseSpectralMax = 300;
// Extra vectors carried by the subspace iteration: the gap to the first
// vector not kept sets its convergence rate.
constexpr Index kSubspaceOversampling = 8;
constexpr int kChebyshevDegree = 10;  // sparse products per round
constexpr int kSubspaceMaxRounds = 100;
constexpr double kSubspaceTolerance = 1e-10;  // change of the wanted Ritz values in a round

// A transform asks the blocked search for a few neighbours more than it uses
// and keeps the nearest by directly computed distances, so that the expanded
// form's rounding (which depends on the block the cell was searched in) cannot
// change which neighbours a cell gets, short of near-exact ties.
constexpr int kSpareNeighbours = 4;
// Cells searched at once in a transform: bounds the temporaries.
constexpr Index kTransformBlock = 1024;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("UMAP: " + message);
}

std::string text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void validateCurve(double spread, double minDist) {
  if (!(spread > 0) || !std::isfinite(spread)) {
    fail("spread = " + text(spread) + " is invalid: it must be finite and > 0");
  }
  if (!(minDist >= 0) || !(minDist <= spread)) {
    fail("min_dist = " + text(minDist) + " is invalid: it must be in [0, spread] = [0, " +
         text(spread) + "]");
  }
}

// splitmix64's finaliser: a bijective 64-bit mix.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A standard normal draw (Box-Muller); 1 - uniform() is in (0, 1], so the log is finite.
double normal(Random& random) {
  const double u1 = 1.0 - random.uniform();
  const double u2 = random.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double clip(double value) { return std::clamp(value, -kGradientClip, kGradientClip); }

// A uniform vertex in [0, n) for a negative sample: one multiplication, where
// Random::below's exact rejection costs two 64-bit divisions (a noticeable
// share of the SGD's time); the bias, below n / 2^53, is immaterial here.
uint64_t randomVertex(Random& random, uint64_t n) {
  return std::min(n - 1, static_cast<uint64_t>(random.uniform() * static_cast<double>(n)));
}

// umap-learn's smooth_knn_dist for one point: the sigma that makes
// sum_{j >= 1} exp(-max(0, d_j - rho) / sigma) = log2(k), by bisection (the
// first distance is skipped: in the fit it is the point itself; umap-learn's
// transform skips it as well). `floorMean` sets the floor kMinKDistScale *
// floorMean applied to sigma.
double smoothKnnSigma(const double* distances, int k, double rho, double floorMean) {
  const double target = std::log2(static_cast<double>(k));
  double lo = 0;
  double hi = std::numeric_limits<double>::infinity();
  double mid = 1;
  for (int iteration = 0; iteration < kSmoothKIterations; ++iteration) {
    double sum = 0;
    for (int j = 1; j < k; ++j) {
      const double d = distances[j] - rho;
      sum += d > 0 ? std::exp(-(d / mid)) : 1.0;
    }
    if (std::fabs(sum - target) < kSmoothKTolerance) break;
    if (sum > target) {
      hi = mid;
      mid = (lo + hi) / 2;
    } else {
      lo = mid;
      mid = std::isinf(hi) ? mid * 2 : (lo + hi) / 2;
    }
  }
  return std::max(mid, kMinKDistScale * floorMean);
}

// Fuzzy membership of a neighbour at distance d (umap-learn's
// compute_membership_strengths).
double membership(double d, double rho, double sigma) {
  if (d - rho <= 0 || sigma == 0) return 1.0;
  return std::exp(-((d - rho) / sigma));
}

// A symmetric weighted graph in compressed rows, columns ascending.
struct Graph {
  std::vector<Index> start;  // n + 1
  std::vector<int> column;
  std::vector<double> weight;
  Index vertices() const { return static_cast<Index>(start.size()) - 1; }
};

// The fuzzy simplicial set of the samples: memberships from each point's
// smooth-knn distances, then the fuzzy union P + P^T - P o P^T.
Graph fuzzyGraph(const Eigen::Ref<const MatrixXd>& samples, int k, Metric metric) {
  const Index n = samples.rows();
  // Neighbours other than the point itself; the point goes first at distance 0,
  // as in umap-learn (whose kNN includes each point), even when a duplicate of
  // it has a lower index.
  const Neighbors found = nearestNeighbors(samples, samples, k - 1, metric, true);
  MatrixXd distances(n, k);  // row i: point i's distances, ascending
  Eigen::MatrixXi indices(n, k);
  for (Index i = 0; i < n; ++i) {
    distances(i, 0) = 0;
    indices(i, 0) = static_cast<int>(i);
    distances.row(i).tail(k - 1) = found.distance.row(i);
    indices.row(i).tail(k - 1) = found.index.row(i);
  }
  const double meanDistance = distances.mean();

  // Directed memberships, row by row, columns ascending for the lookups below.
  std::vector<std::vector<std::pair<int, double>>> directed(static_cast<size_t>(n));
  std::vector<double> row(static_cast<size_t>(k));
  for (Index i = 0; i < n; ++i) {
    for (int j = 0; j < k; ++j) row[static_cast<size_t>(j)] = distances(i, j);
    // rho: the nearest positive distance (local_connectivity = 1).
    double rho = 0;
    for (int j = 0; j < k; ++j) {
      if (row[static_cast<size_t>(j)] > 0) {
        rho = row[static_cast<size_t>(j)];
        break;
      }
    }
    // umap-learn floors sigma by the point's own mean distance, or by the mean
    // over all points when rho is 0 (every neighbour a duplicate).
    const double floorMean =
        rho > 0 ? std::accumulate(row.begin(), row.end(), 0.0) / k : meanDistance;
    const double sigma = smoothKnnSigma(row.data(), k, rho, floorMean);
    auto& out = directed[static_cast<size_t>(i)];
    for (int j = 0; j < k; ++j) {
      const int neighbour = indices(i, j);
      if (neighbour == i) continue;
      const double w = membership(row[static_cast<size_t>(j)], rho, sigma);
      if (w > 0) out.emplace_back(neighbour, w);
    }
    std::sort(out.begin(), out.end());
  }

  auto lookup = [&](int from, int to) {
    const auto& r = directed[static_cast<size_t>(from)];
    const auto it = std::lower_bound(r.begin(), r.end(), std::make_pair(to, -1.0));
    return it != r.end() && it->first == to ? it->second : 0.0;
  };
  struct Entry {
    int row, column;
    double weight;
  };
  std::vector<Entry> entries;
  for (Index i = 0; i < n; ++i) {
    for (const auto& [j, w] : directed[static_cast<size_t>(i)]) {
      const double back = lookup(j, static_cast<int>(i));
      // Computed as w + back - w * back from either side: IEEE addition and
      // multiplication commute, so the two directions get the same bits.
      const double united = w + back - w * back;
      entries.push_back({static_cast<int>(i), j, united});
      if (back == 0) entries.push_back({j, static_cast<int>(i), united});
    }
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
    return x.row < y.row || (x.row == y.row && x.column < y.column);
  });
  Graph graph;
  graph.start.assign(static_cast<size_t>(n) + 1, 0);
  for (const Entry& e : entries) {
    ++graph.start[static_cast<size_t>(e.row) + 1];
    graph.column.push_back(e.column);
    graph.weight.push_back(e.weight);
  }
  for (size_t i = 1; i < graph.start.size(); ++i) graph.start[i] += graph.start[i - 1];
  return graph;
}

// Drops the edges below maxWeight / epochs, as umap-learn does: they would be
// sampled less than once in the whole optimisation.
Graph pruneWeak(const Graph& graph, double cutoff) {
  Graph out;
  out.start.assign(graph.start.size(), 0);
  for (Index i = 0; i < graph.vertices(); ++i) {
    for (Index e = graph.start[i]; e < graph.start[i + 1]; ++e) {
      if (graph.weight[e] >= cutoff) {
        out.column.push_back(graph.column[e]);
        out.weight.push_back(graph.weight[e]);
      }
    }
    out.start[i + 1] = static_cast<Index>(out.column.size());
  }
  return out;
}

// Connected components, labelled in the order of their lowest vertex.
int components(const Graph& graph, std::vector<int>& label) {
  const Index n = graph.vertices();
  label.assign(static_cast<size_t>(n), -1);
  int count = 0;
  std::vector<Index> stack;
  for (Index s = 0; s < n; ++s) {
    if (label[s] >= 0) continue;
    label[s] = count;
    stack.assign(1, s);
    while (!stack.empty()) {
      const Index v = stack.back();
      stack.pop_back();
      for (Index e = graph.start[v]; e < graph.start[v + 1]; ++e) {
        const int u = graph.column[e];
        if (label[u] < 0) {
          label[u] = count;
          stack.push_back(u);
        }
      }
    }
    ++count;
  }
  return count;
}

// The c leading non-trivial eigenvectors of D^-1/2 W D^-1/2 for one connected
// component (umap-learn: the smallest of the normalised Laplacian
// I - D^-1/2 W D^-1/2, skipping the first), m x c.
MatrixXd spectralCoordinates(const Graph& graph, const std::vector<Index>& vertices, int c,
                             Random& random) {
  const auto m = static_cast<Index>(vertices.size());
  std::vector<int> local(static_cast<size_t>(graph.vertices()), -1);
  for (Index v = 0; v < m; ++v) local[vertices[v]] = static_cast<int>(v);
  VectorXd degree = VectorXd::Zero(m);
  std::vector<Eigen::Triplet<double>> triplets;
  for (Index v = 0; v < m; ++v) {
    const Index g = vertices[v];
    for (Index e = graph.start[g]; e < graph.start[g + 1]; ++e) {
      degree(v) += graph.weight[e];
      triplets.emplace_back(v, local[graph.column[e]], graph.weight[e]);
    }
  }
  const VectorXd invSqrt = degree.cwiseSqrt().cwiseInverse();
  for (auto& t : triplets) {
    t = Eigen::Triplet<double>(t.row(), t.col(), t.value() * invSqrt(t.row()) * invSqrt(t.col()));
  }

  if (m <= kDenseSpectralMax) {
    MatrixXd dense = MatrixXd::Zero(m, m);
    for (const auto& t : triplets) dense(t.row(), t.col()) += t.value();
    Eigen::SelfAdjointEigenSolver<MatrixXd> solver(dense);
    MatrixXd out(m, c);
    // Ascending eigenvalues: the last is the trivial one (sqrt(degree)).
    for (int j = 0; j < c; ++j) out.col(j) = solver.eigenvectors().col(m - 2 - j);
    return out;
  }

  // Chebyshev-filtered subspace iteration: each round applies the degree-
  // kChebyshevDegree Chebyshev polynomial that stays within [-1, 1] on
  // [-1, cut] (cut: the block's smallest Ritz value) and grows fast above it,
  // so the wanted eigenvalues (the largest, close to 1 and to each other on
  // smooth manifolds) separate far faster than under plain power iteration;
  // then Rayleigh-Ritz in the block. The trivial eigenvector (eigenvalue 1,
  // sqrt(degree)) is projected out, as rounding would bring it back.
  Eigen::SparseMatrix<double> normalised(m, m);
  normalised.setFromTriplets(triplets.begin(), triplets.end());
  const VectorXd trivial = degree.cwiseSqrt().normalized();
  const Index p = std::min<Index>(c + kSubspaceOversampling, m - 1);
  MatrixXd x(m, p);
  for (Index j = 0; j < p; ++j) {
    for (Index i = 0; i < m; ++i) x(i, j) = 2 * random.uniform() - 1;
  }
  MatrixXd y(m, p), older(m, p);
  VectorXd ritz(p);
  // Orthonormal basis of x without the trivial direction, rotated onto its
  // Ritz vectors (ascending Ritz values).
  auto rayleighRitz = [&] {
    x -= trivial * (trivial.transpose() * x);
    Eigen::HouseholderQR<MatrixXd> qr(x);
    x = qr.householderQ() * MatrixXd::Identity(m, p);
    y.noalias() = normalised * x;
    const MatrixXd h = x.transpose() * y;
    Eigen::SelfAdjointEigenSolver<MatrixXd> solver(0.5 * (h + h.transpose()));
    ritz = solver.eigenvalues();
    x = x * solver.eigenvectors();
  };
  rayleighRitz();
  for (int round = 0; round < kSubspaceMaxRounds; ++round) {
    // The spectrum of M lies in [-1, 1]; keep the filtered interval from
    // collapsing onto -1, where the recurrence would blow up.
    const double cut = std::max(ritz(0), -0.9);
    const double centre = (cut - 1) / 2, halfWidth = (cut + 1) / 2;
    older = x;
    y.noalias() = normalised * x;
    x = (y - centre * older) / halfWidth;
    for (int k = 2; k <= kChebyshevDegree; ++k) {
      y.noalias() = normalised * x;
      y = 2 * (y - centre * x) / halfWidth - older;
      older.swap(x);
      x.swap(y);
    }
    const VectorXd previous = ritz;
    rayleighRitz();
    if ((ritz - previous).tail(c).cwiseAbs().maxCoeff() < kSubspaceTolerance) break;
  }
  MatrixXd out(m, c);
  for (int j = 0; j < c; ++j) out.col(j) = x.col(p - 1 - j);
  return out;
}

// Where each component's layout is centred (umap-learn's
// multi_component_layout): up to 2c components at +-unit vectors; more, at
// the PCA coordinates of the component centroids scaled into [-1, 1].
MatrixXd componentCentres(const Eigen::Ref<const MatrixXd>& samples, const std::vector<int>& label,
                          int count, int c, Metric metric) {
  MatrixXd centres = MatrixXd::Zero(count, c);
  if (count == 1) return centres;
  if (count <= 2 * c) {
    const int half = (count + 1) / 2;
    for (int l = 0; l < count; ++l) centres(l, l % half) = l < half ? 1 : -1;
    return centres;
  }
  MatrixXd centroids = MatrixXd::Zero(count, samples.cols());
  VectorXd sizes = VectorXd::Zero(count);
  for (Index i = 0; i < samples.rows(); ++i) {
    centroids.row(label[i]) += samples.row(i);
    sizes(label[i]) += 1;
  }
  for (int l = 0; l < count; ++l) {
    centroids.row(l) /= sizes(l);
    // Cosine: directions only, so that PCA distances follow the angles.
    const double norm = centroids.row(l).norm();
    if (metric == Metric::Cosine && norm > 0) centroids.row(l) /= norm;
  }
  centroids.rowwise() -= centroids.colwise().mean();
  // The principal coordinates from the smaller of the two Gram matrices: tiny
  // n_neighbors can leave thousands of components.
  const Index d = centroids.cols();
  const int kept = static_cast<int>(std::min<Index>(c, std::min<Index>(count, d)));
  if (count <= d) {
    Eigen::SelfAdjointEigenSolver<MatrixXd> solver(centroids * centroids.transpose());
    for (int j = 0; j < kept; ++j) {
      const double value = std::max(0.0, solver.eigenvalues()(count - 1 - j));
      centres.col(j) = solver.eigenvectors().col(count - 1 - j) * std::sqrt(value);
    }
  } else {
    Eigen::SelfAdjointEigenSolver<MatrixXd> solver(centroids.transpose() * centroids);
    for (int j = 0; j < kept; ++j)
      centres.col(j) = centroids * solver.eigenvectors().col(d - 1 - j);
  }
  const double largest = centres.cwiseAbs().maxCoeff();
  if (largest > 0) centres /= largest;
  return centres;
}

// umap-learn's spectral initialisation, component by component: each one's
// spectral layout scaled to half the distance from its centre to the nearest
// other centre; a component too small for that (< 2c vertices) uniformly
// random in that box.
MatrixXd spectralLayout(const Eigen::Ref<const MatrixXd>& samples, const Graph& graph, int c,
                        Metric metric, Random& random) {
  const Index n = graph.vertices();
  std::vector<int> label;
  const int count = components(graph, label);
  const MatrixXd centres = componentCentres(samples, label, count, c, metric);
  std::vector<std::vector<Index>> members(static_cast<size_t>(count));
  for (Index i = 0; i < n; ++i) members[static_cast<size_t>(label[i])].push_back(i);

  MatrixXd layout(n, c);
  for (int l = 0; l < count; ++l) {
    double range = 1;
    if (count > 1) {
      range = std::numeric_limits<double>::infinity();
      for (int o = 0; o < count; ++o) {
        const double d = (centres.row(o) - centres.row(l)).norm();
        if (d > 0) range = std::min(range, d / 2);
      }
      if (std::isinf(range)) range = 1;  // every centre at the same place
    }
    const auto& vertices = members[static_cast<size_t>(l)];
    const auto m = static_cast<Index>(vertices.size());
    if (m < 2 * c || m <= c + 1) {
      for (Index v : vertices) {
        for (int j = 0; j < c; ++j) {
          layout(v, j) = centres(l, j) + range * (2 * random.uniform() - 1);
        }
      }
      continue;
    }
    MatrixXd coordinates = spectralCoordinates(graph, vertices, c, random);
    const double largest = coordinates.cwiseAbs().maxCoeff();
    if (largest > 0) coordinates *= range / largest;
    for (Index v = 0; v < m; ++v) layout.row(vertices[v]) = coordinates.row(v) + centres.row(l);
  }
  return layout;
}

// One positive (attractive) gradient coefficient: d/d(d^2) of the
// cross-entropy's attractive term, -2ab d^(2(b-1)) / (1 + a d^(2b)).
inline double attraction(double d2, double a, double b) {
  if (!(d2 > 0)) return 0;
  const double power = std::pow(d2, b - 1);
  return -2.0 * a * b * power / (a * power * d2 + 1);
}

inline double repulsion(double d2, double a, double b) {
  return 2.0 * kRepulsionStrength * b / ((kRepulsionEpsilon + d2) * (a * std::pow(d2, b) + 1));
}

// An edge list in umap-learn's sampling schedule: edge e is sampled every
// reference / weight epochs (umap-learn: reference = the largest weight), with
// kNegativeSampleRate negative samples each time.
struct Schedule {
  std::vector<double> perSample, perNegative, nextSample, nextNegative;
  Schedule(const std::vector<double>& weights, double largest) {
    for (double w : weights) {
      const double every = largest / w;
      perSample.push_back(every);
      perNegative.push_back(every / kNegativeSampleRate);
    }
    nextSample = perSample;
    nextNegative = perNegative;
  }
  // Negative samples due for edge e at epoch `epoch` (umap-learn's count,
  // truncated toward zero), and the schedule advanced past them.
  long dueNegatives(size_t e, int epoch) {
    const auto due = static_cast<long>((epoch - nextNegative[e]) / perNegative[e]);
    nextNegative[e] += static_cast<double>(due) * perNegative[e];
    return due;
  }
};

// The learning rate of epoch `epoch`: umap-learn updates it after each epoch
// to initial * (1 - epoch / epochs), so the first two epochs share the initial rate.
double learningRate(double initial, int epoch, int epochs) {
  return initial * (1.0 - static_cast<double>(std::max(0, epoch - 1)) / epochs);
}

// umap-learn's optimize_layout_euclidean with move_other = True over the
// embedding `layout` (n x c, row-major).
void optimiseLayout(std::vector<double>& layout, Index n, int c, const Graph& graph, int epochs,
                    double a, double b, Random& random) {
  std::vector<int> head, tail;
  std::vector<double> weights;
  for (Index i = 0; i < n; ++i) {
    for (Index e = graph.start[i]; e < graph.start[i + 1]; ++e) {
      head.push_back(static_cast<int>(i));
      tail.push_back(graph.column[e]);
      weights.push_back(graph.weight[e]);
    }
  }
  if (weights.empty()) return;
  Schedule schedule(weights, *std::max_element(weights.begin(), weights.end()));
  const auto vertices = static_cast<uint64_t>(n);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const double alpha = learningRate(kInitialAlpha, epoch, epochs);
    for (size_t e = 0; e < weights.size(); ++e) {
      if (schedule.nextSample[e] > epoch) continue;
      double* current = &layout[static_cast<size_t>(head[e]) * c];
      double* other = &layout[static_cast<size_t>(tail[e]) * c];
      double d2 = 0;
      for (int j = 0; j < c; ++j) d2 += (current[j] - other[j]) * (current[j] - other[j]);
      const double coefficient = attraction(d2, a, b);
      for (int j = 0; j < c; ++j) {
        const double gradient = clip(coefficient * (current[j] - other[j]));
        current[j] += gradient * alpha;
        other[j] -= gradient * alpha;
      }
      schedule.nextSample[e] += schedule.perSample[e];

      const long negatives = schedule.dueNegatives(e, epoch);
      for (long s = 0; s < negatives; ++s) {
        const auto k = static_cast<int>(randomVertex(random, vertices));
        other = &layout[static_cast<size_t>(k) * c];
        d2 = 0;
        for (int j = 0; j < c; ++j) d2 += (current[j] - other[j]) * (current[j] - other[j]);
        if (!(d2 > 0) && k == head[e]) continue;
        // At distance 0 (a different point on top of this one) umap-learn
        // pushes by the clip value along every axis.
        const double coefficient2 = d2 > 0 ? repulsion(d2, a, b) : 0;
        for (int j = 0; j < c; ++j) {
          const double gradient =
              coefficient2 > 0 ? clip(coefficient2 * (current[j] - other[j])) : kGradientClip;
          current[j] += gradient * alpha;
        }
      }
    }
  }
}

void validateModel(const UmapModel& model) {
  const Index n = model.points.rows();
  if (n < 2) fail("the model has " + std::to_string(n) + " fitted points: at least 2 are needed");
  if (model.points.cols() < 1) fail("the model's points have no features");
  if (model.embedding.rows() != n || model.embedding.cols() < 1) {
    fail("the model's embedding is " + std::to_string(model.embedding.rows()) + " x " +
         std::to_string(model.embedding.cols()) + ": it must have one row per fitted point (" +
         std::to_string(n) + ") and at least one column");
  }
  if (model.n_neighbors < 2 || model.n_neighbors > n) {
    fail("the model's n_neighbors = " + std::to_string(model.n_neighbors) +
         " is invalid: it must be in [2, " + std::to_string(n) + "] (fitted points)");
  }
  if (model.transform_epochs < 1) {
    fail("the model's transform_epochs = " + std::to_string(model.transform_epochs) +
         " is invalid: it must be >= 1");
  }
  if (!(model.a > 0) || !(model.b > 0) || !std::isfinite(model.a) || !std::isfinite(model.b)) {
    fail("the model's a = " + text(model.a) + ", b = " + text(model.b) +
         " are invalid: both must be finite and > 0");
  }
  if (!model.embedding.allFinite()) fail("the model's embedding contains NaN or infinite values");
}

// FNV-1a over the bits of a cell's values (-0 read as +0), mixed with the model
// seed: the seed of that cell's negative samples.
uint64_t cellSeed(const Eigen::Ref<const Eigen::MatrixXf>& cells, Index row, uint64_t seed) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (Index j = 0; j < cells.cols(); ++j) {
    const float value = cells(row, j) == 0 ? 0.0f : cells(row, j);
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    for (int byte = 0; byte < 4; ++byte) {
      hash = (hash ^ ((bits >> (8 * byte)) & 0xffu)) * 0x100000001b3ULL;
    }
  }
  return mix64(hash ^ mix64(seed + 0x9e3779b97f4a7c15ULL));
}

}  // namespace

std::pair<double, double> findUmapAbParams(double spread, double minDist) {
  validateCurve(spread, minDist);
  constexpr int kPoints = 300;
  std::vector<double> xs(kPoints), ys(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    // numpy.linspace(0, 3 * spread, 300)
    xs[i] = i == kPoints - 1 ? 3 * spread : i * (3 * spread / (kPoints - 1));
    ys[i] = xs[i] < minDist ? 1.0 : std::exp(-(xs[i] - minDist) / spread);
  }
  auto sumOfSquares = [&](double a, double b) {
    double total = 0;
    for (int i = 0; i < kPoints; ++i) {
      const double t = xs[i] > 0 ? std::pow(xs[i], 2 * b) : 0.0;
      const double r = 1.0 / (1.0 + a * t) - ys[i];
      total += r * r;
    }
    return total;
  };
  // Levenberg-Marquardt with Marquardt's diagonal scaling, from a = b = 1 as
  // scipy's curve_fit; the minimum is well conditioned, so it lands where
  // MINPACK does (to its 1.5e-8 tolerance).
  double a = 1, b = 1;
  double cost = sumOfSquares(a, b);
  double lambda = 1e-3;
  for (int iteration = 0; iteration < 500; ++iteration) {
    Eigen::Matrix2d jtj = Eigen::Matrix2d::Zero();
    Eigen::Vector2d jtr = Eigen::Vector2d::Zero();
    for (int i = 0; i < kPoints; ++i) {
      if (!(xs[i] > 0)) {
        // f = 1 whatever a and b: no gradient.
        continue;
      }
      const double t = std::pow(xs[i], 2 * b);
      const double f = 1.0 / (1.0 + a * t);
      const Eigen::Vector2d g(-t * f * f, -a * t * 2 * std::log(xs[i]) * f * f);
      jtj += g * g.transpose();
      jtr += g * (f - ys[i]);
    }
    bool improved = false;
    while (lambda < 1e20) {
      Eigen::Matrix2d damped = jtj;
      damped.diagonal() *= 1 + lambda;
      const Eigen::Vector2d step = damped.ldlt().solve(-jtr);
      const double na = a + step(0), nb = b + step(1);
      const double trial = na > 0 && nb > 0 ? sumOfSquares(na, nb) : HUGE_VAL;
      if (trial < cost) {
        const bool converged = std::fabs(step(0)) <= 1e-14 * std::fabs(a) &&
                               std::fabs(step(1)) <= 1e-14 * std::fabs(b);
        a = na;
        b = nb;
        const bool flat = cost - trial <= 1e-16 * cost;
        cost = trial;
        lambda = std::max(lambda / 10, 1e-12);
        improved = !(converged || flat);
        break;
      }
      lambda *= 10;
    }
    if (!improved) break;
  }
  return {a, b};
}

UmapModel fitUmap(const Eigen::Ref<const MatrixXd>& samples, const UmapOptions& options) {
  const Index n = samples.rows();
  if (samples.cols() < 1) fail("the samples have no features (d = 0)");
  if (n < 3) fail(std::to_string(n) + " samples are too few: at least 3 are needed");
  const std::string range = "[2, n - 1] = [2, " + std::to_string(n - 1) + "] (n samples)";
  if (options.n_neighbors < 2 || options.n_neighbors >= n) {
    fail("n_neighbors = " + std::to_string(options.n_neighbors) + " is invalid: it must be in " +
         range);
  }
  if (options.n_components < 1 || options.n_components >= n) {
    fail("n_components = " + std::to_string(options.n_components) +
         " is invalid: it must be in [1, n - 1] = [1, " + std::to_string(n - 1) + "] (n samples)");
  }
  validateCurve(options.spread, options.min_dist);
  if (options.n_epochs < 0) {
    fail("n_epochs = " + std::to_string(options.n_epochs) +
         " is invalid: it must be >= 1, or 0 for automatic");
  }
  if (options.transform_epochs < 0) {
    fail("transform_epochs = " + std::to_string(options.transform_epochs) +
         " is invalid: it must be >= 1, or 0 for automatic");
  }
  if (!samples.allFinite()) fail("the samples contain NaN or infinite values");

  const int c = options.n_components;
  const int defaultEpochs = n <= 10000 ? 500 : 200;
  UmapModel model;
  model.points = samples;
  model.n_neighbors = options.n_neighbors;
  model.metric = options.metric;
  model.epochs = options.n_epochs > 0 ? options.n_epochs : defaultEpochs;
  // umap-learn's transform: n_epochs / 3 when n_epochs was given, else 100
  // (its figure for batches up to 10000 cells; larger batches get 30 there,
  // but a cell's result must not depend on its batch).
  model.transform_epochs = options.transform_epochs > 0 ? options.transform_epochs
                           : options.n_epochs > 0       ? std::max(1, options.n_epochs / 3)
                                                        : kDefaultTransformEpochs;
  model.seed = options.seed;
  model.min_dist = options.min_dist;
  model.spread = options.spread;
  std::tie(model.a, model.b) = findUmapAbParams(options.spread, options.min_dist);

  // Independent streams for the initialisation, its jitter and the SGD, so
  // that changing one stage's draws leaves the others' alone.
  Random master(options.seed);
  Random initRandom(master.next());
  Random noiseRandom(master.next());
  Random sgdRandom(master.next());

  const Graph full = fuzzyGraph(samples, options.n_neighbors, options.metric);
  const double largest =
      full.weight.empty() ? 0.0 : *std::max_element(full.weight.begin(), full.weight.end());
  // umap-learn: with very few epochs the cut uses the default count instead.
  const int cutEpochs = model.epochs > 10 ? model.epochs : defaultEpochs;
  const Graph graph = pruneWeak(full, largest / cutEpochs);

  MatrixXd init = spectralLayout(samples, graph, c, options.metric, initRandom);
  // umap-learn: scale to max |x| = 10, add a little noise (separates points
  // the spectral layout put on top of each other), then each component to [0, 10].
  const double extent = init.cwiseAbs().maxCoeff();
  if (extent > 0) init *= kInitScale / extent;
  for (Index j = 0; j < c; ++j) {
    for (Index i = 0; i < n; ++i) init(i, j) += kInitNoise * normal(noiseRandom);
  }
  std::vector<double> layout(static_cast<size_t>(n) * c);
  for (Index j = 0; j < c; ++j) {
    const double lo = init.col(j).minCoeff(), hi = init.col(j).maxCoeff();
    const double scale = hi > lo ? kInitScale / (hi - lo) : 0.0;
    for (Index i = 0; i < n; ++i)
      layout[static_cast<size_t>(i * c + j)] = (init(i, j) - lo) * scale;
  }

  optimiseLayout(layout, n, c, graph, model.epochs, model.a, model.b, sgdRandom);

  model.embedding.resize(n, c);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < c; ++j) model.embedding(i, j) = layout[static_cast<size_t>(i * c + j)];
  }
  return model;
}

void transformUmap(const UmapModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                   Eigen::Ref<Eigen::MatrixXf> out) {
  validateModel(model);
  const Index n = model.points.rows();
  const Index d = model.points.cols();
  const auto c = static_cast<int>(model.embedding.cols());
  if (cells.cols() != d) {
    fail("cells have " + std::to_string(cells.cols()) + " features but the model has " +
         std::to_string(d));
  }
  if (out.rows() != cells.rows() || out.cols() != c) {
    fail("the output is " + std::to_string(out.rows()) + " x " + std::to_string(out.cols()) +
         ": it must be cells x n_components = " + std::to_string(cells.rows()) + " x " +
         std::to_string(c));
  }
  const int k = model.n_neighbors;
  const int searched = static_cast<int>(std::min<Index>(n, k + kSpareNeighbours));
  const int epochs = model.transform_epochs;
  const double a = model.a, b = model.b;

  // The fitted embedding and points row-major: the optimisation reads
  // positions at random, the distances whole rows.
  std::vector<double> fitted(static_cast<size_t>(n) * c);
  for (Index i = 0; i < n; ++i) {
    for (int j = 0; j < c; ++j) fitted[static_cast<size_t>(i * c + j)] = model.embedding(i, j);
  }
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> points =
      model.points;

  std::vector<Index> valid;
  for (Index i = 0; i < cells.rows(); ++i) {
    if (cells.row(i).allFinite()) {
      valid.push_back(i);
    } else {
      out.row(i).setConstant(std::numeric_limits<float>::quiet_NaN());
    }
  }

  MatrixXd block;
  Eigen::RowVectorXd query(d), reference(d);
  std::vector<std::pair<double, int>> candidates(static_cast<size_t>(searched));
  std::vector<double> distances(static_cast<size_t>(k)), weights;
  std::vector<int> tails;
  std::vector<double> current(static_cast<size_t>(c));
  for (size_t b0 = 0; b0 < valid.size(); b0 += static_cast<size_t>(kTransformBlock)) {
    const auto rows =
        static_cast<Index>(std::min(valid.size() - b0, static_cast<size_t>(kTransformBlock)));
    block.resize(rows, d);
    for (Index j = 0; j < d; ++j) {
      for (Index r = 0; r < rows; ++r) block(r, j) = cells(valid[b0 + r], j);
    }
    const Neighbors found = nearestNeighbors(model.points, block, searched, model.metric);

    for (Index r = 0; r < rows; ++r) {
      const Index cell = valid[b0 + r];
      // Distances recomputed pair by pair on contiguous copies: the same bits
      // whatever block the cell came in.
      query = block.row(r);
      for (int s = 0; s < searched; ++s) {
        const int j = found.index(r, s);
        reference = points.row(j);
        candidates[static_cast<size_t>(s)] = {distance(query, reference, model.metric), j};
      }
      std::sort(candidates.begin(), candidates.end());
      double total = 0;
      for (int s = 0; s < k; ++s) total += distances[s] = candidates[static_cast<size_t>(s)].first;

      // umap-learn's transform: local_connectivity - 1 = 0, so rho = 0. The
      // sigma floor uses the cell's own mean distance where umap-learn takes
      // the batch's.
      const double sigma = smoothKnnSigma(distances.data(), k, 0.0, total / k);
      weights.clear();
      tails.clear();
      double weightSum = 0;
      int exact = -1;  // a neighbour with membership 1 (the cell is on it)
      for (int s = 0; s < k; ++s) {
        const double w = membership(distances[s], 0.0, sigma);
        if (!(w > 0)) continue;
        if (w == 1 && exact < 0) exact = candidates[static_cast<size_t>(s)].second;
        weights.push_back(w);
        tails.push_back(candidates[static_cast<size_t>(s)].second);
        weightSum += w;
      }
      if (weights.empty()) {
        out.row(cell).setConstant(std::numeric_limits<float>::quiet_NaN());
        continue;
      }
      // Start: on the fitted point the cell coincides with, else the
      // membership-weighted mean of the neighbours' positions.
      std::fill(current.begin(), current.end(), 0.0);
      if (exact >= 0) {
        for (int j = 0; j < c; ++j) current[j] = fitted[static_cast<size_t>(exact) * c + j];
      } else {
        for (size_t e = 0; e < weights.size(); ++e) {
          const double share = weights[e] / weightSum;
          for (int j = 0; j < c; ++j) {
            current[j] += share * fitted[static_cast<size_t>(tails[e]) * c + j];
          }
        }
      }

      // Sampling rates relative to membership 1 (sampled every epoch), not to
      // the largest membership of the batch as in umap-learn. That batch
      // maximum is 1 as soon as one cell of the batch lies on a fitted point,
      // and 1 is the fit's reference too (each point's nearest neighbour has
      // membership 1). The cell's own largest membership, the other
      // batch-independent choice, is only ~0.3 for typical high-dimensional
      // cells: it would sample ~3 times as often, for no better placement.
      // As umap-learn, memberships sampled less than once in the whole
      // optimisation are dropped.
      size_t kept = 0;
      for (size_t e = 0; e < weights.size(); ++e) {
        if (weights[e] >= 1.0 / epochs) {
          weights[kept] = weights[e];
          tails[kept] = tails[e];
          ++kept;
        }
      }
      weights.resize(kept);
      tails.resize(kept);

      Random random(cellSeed(cells, cell, model.seed));
      Schedule schedule(weights, 1.0);
      for (int epoch = 0; epoch < epochs; ++epoch) {
        const double alpha = learningRate(kInitialAlpha / 4, epoch, epochs);
        for (size_t e = 0; e < weights.size(); ++e) {
          if (schedule.nextSample[e] > epoch) continue;
          const double* other = &fitted[static_cast<size_t>(tails[e]) * c];
          double d2 = 0;
          for (int j = 0; j < c; ++j) d2 += (current[j] - other[j]) * (current[j] - other[j]);
          const double coefficient = attraction(d2, a, b);
          for (int j = 0; j < c; ++j) {
            current[j] += clip(coefficient * (current[j] - other[j])) * alpha;
          }
          schedule.nextSample[e] += schedule.perSample[e];
          const long negatives = schedule.dueNegatives(e, epoch);
          for (long s = 0; s < negatives; ++s) {
            other = &fitted[randomVertex(random, static_cast<uint64_t>(n)) * c];
            d2 = 0;
            for (int j = 0; j < c; ++j) d2 += (current[j] - other[j]) * (current[j] - other[j]);
            const double coefficient2 = d2 > 0 ? repulsion(d2, a, b) : 0;
            for (int j = 0; j < c; ++j) {
              const double gradient =
                  coefficient2 > 0 ? clip(coefficient2 * (current[j] - other[j])) : kGradientClip;
              current[j] += gradient * alpha;
            }
          }
        }
      }
      for (int j = 0; j < c; ++j) out(cell, j) = static_cast<float>(current[j]);
    }
  }
}

}  // namespace vitfeat::math
