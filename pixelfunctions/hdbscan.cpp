#include "pixelfunctions/hdbscan.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace vitfeat::math {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("hdbscan: " + message);
}

// The condensed tree's scale: 1 / distance, +infinity for coincident samples
// (as the library does).
double lambdaOf(double distance) { return distance > 0 ? 1.0 / distance : kInfinity; }

// The distance of one pair, summed in a fixed order. Fit (core distances) and
// prediction both decide with this one function, so a training sample
// predicted as a new cell sees its own core distance (exactly, unless two of
// its neighbours are equidistant to rounding), and a cell's result never
// depends on how a matrix product happened to be blocked.
// Kept out of line so that no call site compiles it with other rounding
// (e.g. contracted into FMAs differently).
[[gnu::noinline]] double directDistance(const double* a, const double* b, Index d, bool cosine) {
  // Four running sums, combined in a fixed order: independent additions
  // pipeline, and the rounding is still the same on every call.
  double sums[4] = {0, 0, 0, 0};
  Index t = 0;
  if (cosine) {
    for (; t + 4 <= d; t += 4) {
      for (int l = 0; l < 4; ++l) sums[l] += a[t + l] * b[t + l];
    }
    for (; t < d; ++t) sums[0] += a[t] * b[t];
    return std::max(0.0, 1.0 - ((sums[0] + sums[1]) + (sums[2] + sums[3])));
  }
  for (; t + 4 <= d; t += 4) {
    for (int l = 0; l < 4; ++l) {
      const double diff = a[t + l] - b[t + l];
      sums[l] += diff * diff;
    }
  }
  for (; t < d; ++t) {
    const double diff = a[t] - b[t];
    sums[0] += diff * diff;
  }
  return std::sqrt((sums[0] + sums[1]) + (sums[2] + sums[3]));
}

// Scales a row to unit length in place (a zero row stays zero, at cosine
// distance 1 from everything, as in neighbors.h). Out of line for the same
// reason as directDistance: fit and prediction must normalise identically.
[[gnu::noinline]] void normalise(double* x, Index d) {
  double sum = 0;
  for (Index t = 0; t < d; ++t) sum += x[t] * x[t];
  if (!(sum > 0)) return;
  const double norm = std::sqrt(sum);
  for (Index t = 0; t < d; ++t) x[t] /= norm;
}

// Samples as directDistance reads them: row-major, unit rows for cosine.
RowMajorMatrix directRows(const Eigen::Ref<const MatrixXd>& samples, Metric metric) {
  RowMajorMatrix rows = samples;
  if (metric == Metric::Cosine) {
    for (Index i = 0; i < rows.rows(); ++i) normalise(rows.row(i).data(), rows.cols());
  }
  return rows;
}

// Core distance of every sample: the largest direct distance among itself and
// its min_samples - 1 nearest other samples (neighbors.h finds them).
VectorXd coreDistances(const Eigen::Ref<const MatrixXd>& samples, const RowMajorMatrix& rows,
                       int minSamples, Metric metric) {
  const Index n = samples.rows();
  const Index d = samples.cols();
  const bool cosine = metric == Metric::Cosine;
  VectorXd core(n);
  for (Index i = 0; i < n; ++i) core(i) = directDistance(&rows(i, 0), &rows(i, 0), d, cosine);
  if (minSamples == 1) return core;
  const Neighbors neighbors = nearestNeighbors(samples, samples, minSamples - 1, metric, true);
  for (Index i = 0; i < n; ++i) {
    for (Index c = 0; c < neighbors.index.cols(); ++c) {
      const Index j = neighbors.index(i, c);
      core(i) = std::max(core(i), directDistance(&rows(i, 0), &rows(j, 0), d, cosine));
    }
  }
  return core;
}

struct Edge {
  int a = 0;
  int b = 0;
  double weight = 0;
};

// Minimum spanning tree of the complete mutual-reachability graph by Prim's
// algorithm: O(n^2 d) time, O(n d) memory, no n x n matrix. The samples not yet
// in the tree are kept in the first m rows of a column-major working copy, so
// that each step computes the distances of the newest tree vertex to all of
// them with contiguous column sweeps (vectorised), in row blocks that keep the
// accumulators in L1. Each pair is evaluated once (when the first of the two
// joins the tree), so the rounding needs no symmetry.
std::vector<Edge> minimumSpanningTree(const RowMajorMatrix& rows, VectorXd core, bool cosine) {
  const Index n = rows.rows();
  const Index d = rows.cols();
  constexpr Index kChunk = 512;
  MatrixXd work = rows;
  std::vector<int> id(static_cast<size_t>(n));
  std::iota(id.begin(), id.end(), 0);
  VectorXd best = VectorXd::Constant(n, kInfinity);
  std::vector<int> from(static_cast<size_t>(n), -1);
  VectorXd acc(kChunk);
  Eigen::RowVectorXd current(d);
  int currentId = 0;
  double currentCore = 0;
  Index m = n;
  // Makes row r the current vertex and moves it out of the unvisited prefix.
  auto take = [&](Index r) {
    current = work.row(r);
    currentId = id[static_cast<size_t>(r)];
    currentCore = core(r);
    --m;
    if (r != m) {
      work.row(r).swap(work.row(m));
      std::swap(id[static_cast<size_t>(r)], id[static_cast<size_t>(m)]);
      std::swap(core(r), core(m));
      std::swap(best(r), best(m));
      std::swap(from[static_cast<size_t>(r)], from[static_cast<size_t>(m)]);
    }
  };

  std::vector<Edge> edges;
  edges.reserve(static_cast<size_t>(n > 0 ? n - 1 : 0));
  take(0);
  while (m > 0) {
    Index pick = -1;
    double pickValue = kInfinity;
    int pickId = 0;
    for (Index r0 = 0; r0 < m; r0 += kChunk) {
      const Index count = std::min(kChunk, m - r0);
      auto sums = acc.head(count).array();
      sums.setZero();
      // Four features per sweep: one load and store of the sums instead of
      // four.
      Index t = 0;
      if (cosine) {
        for (; t + 4 <= d; t += 4) {
          sums = sums + work.col(t).segment(r0, count).array() * current(t) +
                 work.col(t + 1).segment(r0, count).array() * current(t + 1) +
                 work.col(t + 2).segment(r0, count).array() * current(t + 2) +
                 work.col(t + 3).segment(r0, count).array() * current(t + 3);
        }
        for (; t < d; ++t) sums = sums + work.col(t).segment(r0, count).array() * current(t);
      } else {
        for (; t + 4 <= d; t += 4) {
          sums = sums + (work.col(t).segment(r0, count).array() - current(t)).square() +
                 (work.col(t + 1).segment(r0, count).array() - current(t + 1)).square() +
                 (work.col(t + 2).segment(r0, count).array() - current(t + 2)).square() +
                 (work.col(t + 3).segment(r0, count).array() - current(t + 3)).square();
        }
        for (; t < d; ++t) {
          sums = sums + (work.col(t).segment(r0, count).array() - current(t)).square();
        }
      }
      for (Index r = 0; r < count; ++r) {
        const Index row = r0 + r;
        const double distance = cosine ? std::max(0.0, 1.0 - sums(r)) : std::sqrt(sums(r));
        const double reach = std::max({currentCore, core(row), distance});
        if (reach < best(row)) {
          best(row) = reach;
          from[static_cast<size_t>(row)] = currentId;
        }
        // Ties go to the lower sample index, whatever the working order.
        const int rowId = id[static_cast<size_t>(row)];
        if (pick < 0 || best(row) < pickValue || (best(row) == pickValue && rowId < pickId)) {
          pick = row;
          pickValue = best(row);
          pickId = rowId;
        }
      }
    }
    edges.push_back({from[static_cast<size_t>(pick)], pickId, pickValue});
    take(pick);
  }
  return edges;
}

// One merge of the single-linkage hierarchy (scipy's linkage layout, as the
// library uses): node n + i joins left and right at `distance`.
struct Merge {
  int left = 0;
  int right = 0;
  double distance = 0;
  int64_t size = 0;
};

// Kruskal's order over the MST edges (stable: equal weights keep Prim's
// order) with a union-find whose root is the newest node of its component.
std::vector<Merge> singleLinkage(std::vector<Edge> edges, int n) {
  std::stable_sort(edges.begin(), edges.end(),
                   [](const Edge& x, const Edge& y) { return x.weight < y.weight; });
  const auto nodes = static_cast<size_t>(2 * n - 1);
  std::vector<int> parent(nodes);
  std::iota(parent.begin(), parent.end(), 0);
  std::vector<int64_t> size(nodes, 1);
  auto find = [&](int x) {
    int root = x;
    while (parent[static_cast<size_t>(root)] != root) root = parent[static_cast<size_t>(root)];
    while (parent[static_cast<size_t>(x)] != root) {
      const int next = parent[static_cast<size_t>(x)];
      parent[static_cast<size_t>(x)] = root;
      x = next;
    }
    return root;
  };
  std::vector<Merge> merges;
  merges.reserve(edges.size());
  for (size_t i = 0; i < edges.size(); ++i) {
    const int a = find(edges[i].a);
    const int b = find(edges[i].b);
    const int node = n + static_cast<int>(i);
    const int64_t joined = size[static_cast<size_t>(a)] + size[static_cast<size_t>(b)];
    merges.push_back({a, b, edges[i].weight, joined});
    parent[static_cast<size_t>(a)] = node;
    parent[static_cast<size_t>(b)] = node;
    size[static_cast<size_t>(node)] = joined;
  }
  return merges;
}

// The condensed tree: clusters (0 is the root, all samples) and, for each
// sample, the cluster it fell out of and the lambda at which it did.
struct CondensedTree {
  std::vector<int> clusterParent;
  std::vector<double> clusterBirth;  // lambda at which the cluster split off
  std::vector<int64_t> clusterSize;  // samples at birth
  std::vector<int> pointCluster;
  std::vector<double> pointLambda;
};

// The library's condense_tree: walking the hierarchy from the top, a split
// into two parts of at least min_cluster_size makes two new clusters; a part
// smaller than that is samples falling out of the cluster, which lives on in
// the larger part. Breadth first, so clusters are numbered as the library does.
CondensedTree condense(const std::vector<Merge>& merges, int n, int minClusterSize) {
  CondensedTree tree;
  tree.clusterParent = {-1};
  tree.clusterBirth = {0.0};
  tree.clusterSize = {n};
  tree.pointCluster.assign(static_cast<size_t>(n), -1);
  tree.pointLambda.assign(static_cast<size_t>(n), 0.0);
  const int root = 2 * n - 2;
  auto sizeOf = [&](int node) {
    return node < n ? int64_t{1} : merges[static_cast<size_t>(node - n)].size;
  };
  std::vector<int> cluster(static_cast<size_t>(2 * n - 1), -1);
  cluster[static_cast<size_t>(root)] = 0;
  std::vector<int> stack;
  auto fallOut = [&](int node, int from, double lambda) {
    stack.assign(1, node);
    while (!stack.empty()) {
      const int x = stack.back();
      stack.pop_back();
      if (x < n) {
        tree.pointCluster[static_cast<size_t>(x)] = from;
        tree.pointLambda[static_cast<size_t>(x)] = lambda;
      } else {
        stack.push_back(merges[static_cast<size_t>(x - n)].right);
        stack.push_back(merges[static_cast<size_t>(x - n)].left);
      }
    }
  };
  std::deque<int> queue;
  if (n >= 2) queue.push_back(root);
  while (!queue.empty()) {
    const int node = queue.front();
    queue.pop_front();
    const Merge& merge = merges[static_cast<size_t>(node - n)];
    const double lambda = lambdaOf(merge.distance);
    const int current = cluster[static_cast<size_t>(node)];
    const bool bigLeft = sizeOf(merge.left) >= minClusterSize;
    const bool bigRight = sizeOf(merge.right) >= minClusterSize;
    for (const int child : {merge.left, merge.right}) {
      const bool big = child == merge.left ? bigLeft : bigRight;
      if (!big) {
        fallOut(child, current, lambda);
        continue;
      }
      if (bigLeft && bigRight) {
        cluster[static_cast<size_t>(child)] = static_cast<int>(tree.clusterParent.size());
        tree.clusterParent.push_back(current);
        tree.clusterBirth.push_back(lambda);
        tree.clusterSize.push_back(sizeOf(child));
      } else {
        cluster[static_cast<size_t>(child)] = current;
      }
      queue.push_back(child);  // at least min_cluster_size >= 2 samples: a merge
    }
  }
  return tree;
}

// Excess of mass contributed by `size` samples living from `birth` to `lambda`.
// Equal lambdas (possibly both infinite) contribute nothing, not NaN.
double mass(double lambda, double birth, int64_t size) {
  return lambda > birth ? (lambda - birth) * static_cast<double>(size) : 0.0;
}

}  // namespace

HdbscanFit fitHdbscan(const Eigen::Ref<const MatrixXd>& samples, const HdbscanOptions& options) {
  const Index n = samples.rows();
  const Index d = samples.cols();
  if (d < 1) fail("the samples have no features (d = 0)");
  if (options.min_cluster_size < 2 || options.min_cluster_size > n) {
    fail("min_cluster_size = " + std::to_string(options.min_cluster_size) +
         " is invalid: it must be in [2, n] = [2, " + std::to_string(n) + "] (n samples)");
  }
  if (options.min_samples < 0 || options.min_samples > n) {
    fail("min_samples = " + std::to_string(options.min_samples) +
         " is invalid: it must be 0 (= min_cluster_size) or in [1, n] = [1, " + std::to_string(n) +
         "] (n samples)");
  }
  if (n > std::numeric_limits<int>::max() / 2) {
    fail("n = " + std::to_string(n) + " samples is too many: at most " +
         std::to_string(std::numeric_limits<int>::max() / 2));
  }
  if (!samples.allFinite()) fail("the samples contain NaN or infinite values");
  const int minSamples = options.min_samples == 0 ? options.min_cluster_size : options.min_samples;
  const bool cosine = options.metric == Metric::Cosine;
  const int count = static_cast<int>(n);

  const RowMajorMatrix rows = directRows(samples, options.metric);
  const VectorXd core = coreDistances(samples, rows, minSamples, options.metric);
  const std::vector<Merge> merges = singleLinkage(minimumSpanningTree(rows, core, cosine), count);
  const CondensedTree tree = condense(merges, count, options.min_cluster_size);

  // Stability (excess of mass) of every cluster and its largest lambda (the
  // library's max_lambdas: over the samples and child clusters leaving it).
  const size_t clusters = tree.clusterParent.size();
  std::vector<double> stability(clusters, 0.0);
  std::vector<double> death(clusters, 0.0);
  for (size_t p = 0; p < static_cast<size_t>(n); ++p) {
    const auto c = static_cast<size_t>(tree.pointCluster[p]);
    stability[c] += mass(tree.pointLambda[p], tree.clusterBirth[c], 1);
    death[c] = std::max(death[c], tree.pointLambda[p]);
  }
  std::vector<std::vector<int>> children(clusters);
  for (size_t c = 1; c < clusters; ++c) {
    const auto parent = static_cast<size_t>(tree.clusterParent[c]);
    children[parent].push_back(static_cast<int>(c));
    stability[parent] += mass(tree.clusterBirth[c], tree.clusterBirth[parent], tree.clusterSize[c]);
    death[parent] = std::max(death[parent], tree.clusterBirth[c]);
  }

  // Excess-of-mass selection, children before parents (a child's number is
  // larger than its parent's). A cluster is kept when it is at least as stable
  // as its best selection of descendants; the root is never a candidate.
  const std::vector<double> ownStability = stability;
  std::vector<char> selected(clusters, 0);
  std::vector<int> stack;
  for (size_t c = clusters; c-- > 1;) {
    double subtree = 0;
    for (const int child : children[c]) subtree += stability[static_cast<size_t>(child)];
    if (subtree > stability[c]) {
      stability[c] = subtree;
      continue;
    }
    selected[c] = 1;
    stack.assign(children[c].begin(), children[c].end());
    while (!stack.empty()) {
      const auto x = static_cast<size_t>(stack.back());
      stack.pop_back();
      selected[x] = 0;
      stack.insert(stack.end(), children[x].begin(), children[x].end());
    }
  }

  // A sample belongs to the selected cluster it left the tree from, or to the
  // selected ancestor of that cluster; otherwise it is noise.
  std::vector<int> owner(clusters, -1);
  for (size_t c = 1; c < clusters; ++c) {
    owner[c] =
        selected[c] ? static_cast<int>(c) : owner[static_cast<size_t>(tree.clusterParent[c])];
  }
  std::vector<int64_t> members(clusters, 0);
  for (size_t p = 0; p < static_cast<size_t>(n); ++p) {
    const int c = owner[static_cast<size_t>(tree.pointCluster[p])];
    if (c >= 0) ++members[static_cast<size_t>(c)];
  }

  // Labels by size, largest first; ties keep the tree's (breadth-first) order.
  std::vector<int> order;
  for (size_t c = 1; c < clusters; ++c) {
    if (selected[c]) order.push_back(static_cast<int>(c));
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return members[static_cast<size_t>(a)] > members[static_cast<size_t>(b)];
  });
  std::vector<int> labelOf(clusters, -1);
  for (size_t l = 0; l < order.size(); ++l)
    labelOf[static_cast<size_t>(order[l])] = static_cast<int>(l);

  HdbscanFit fit;
  HdbscanModel& model = fit.model;
  model.metric = options.metric;
  model.min_samples = minSamples;
  model.points = samples;
  model.core_distances = core;
  model.labels.resize(static_cast<size_t>(n));
  fit.strengths.resize(static_cast<size_t>(n));
  for (const int c : order) {
    model.birth_lambdas.push_back(tree.clusterBirth[static_cast<size_t>(c)]);
    model.max_lambdas.push_back(death[static_cast<size_t>(c)]);
    fit.sizes.push_back(members[static_cast<size_t>(c)]);
    fit.stabilities.push_back(ownStability[static_cast<size_t>(c)]);
  }
  for (size_t p = 0; p < static_cast<size_t>(n); ++p) {
    const int c = owner[static_cast<size_t>(tree.pointCluster[p])];
    const int label = c >= 0 ? labelOf[static_cast<size_t>(c)] : -1;
    model.labels[p] = label;
    if (label < 0) {
      fit.strengths[p] = 0;
      continue;
    }
    // The library's probabilities_: a sample that stays to the end (or whose
    // cluster never leaves lambda 0) is a full member.
    const double lambda = tree.pointLambda[p];
    const double maxLambda = model.max_lambdas[static_cast<size_t>(label)];
    fit.strengths[p] =
        maxLambda == 0 || !std::isfinite(lambda) ? 1.0 : std::min(lambda, maxLambda) / maxLambda;
  }
  return fit;
}

HdbscanPredictor::HdbscanPredictor(HdbscanModel model) : model_(std::move(model)) {
  const Index n = model_.points.rows();
  const Index d = model_.points.cols();
  if (n < 1 || d < 1) {
    fail("the model has no training samples (" + std::to_string(n) + " x " + std::to_string(d) +
         ")");
  }
  if (!model_.points.allFinite()) fail("the model's samples contain NaN or infinite values");
  if (model_.min_samples < 1 || model_.min_samples > n) {
    fail("the model's min_samples = " + std::to_string(model_.min_samples) +
         " is invalid: it must be in [1, n] = [1, " + std::to_string(n) + "] (n samples)");
  }
  if (model_.core_distances.size() != n || !model_.core_distances.allFinite() ||
      (model_.core_distances.array() < 0).any()) {
    fail("the model needs " + std::to_string(n) + " finite core distances >= 0, it has " +
         std::to_string(model_.core_distances.size()));
  }
  const size_t k = model_.birth_lambdas.size();
  if (model_.max_lambdas.size() != k) {
    fail("the model has " + std::to_string(k) + " birth lambdas but " +
         std::to_string(model_.max_lambdas.size()) + " max lambdas");
  }
  for (size_t c = 0; c < k; ++c) {
    if (!(model_.birth_lambdas[c] >= 0) || !(model_.max_lambdas[c] >= 0)) {
      fail("cluster " + std::to_string(c) + " has birth lambda " +
           std::to_string(model_.birth_lambdas[c]) + " and max lambda " +
           std::to_string(model_.max_lambdas[c]) + ": both must be >= 0 (+infinity allowed)");
    }
  }
  if (model_.labels.size() != static_cast<size_t>(n)) {
    fail("the model has " + std::to_string(model_.labels.size()) + " labels for " +
         std::to_string(n) + " samples");
  }
  for (size_t i = 0; i < model_.labels.size(); ++i) {
    if (model_.labels[i] < -1 || model_.labels[i] >= static_cast<int>(k)) {
      fail("sample " + std::to_string(i) + " has label " + std::to_string(model_.labels[i]) +
           ": labels must be -1 (noise) or in [0, " + std::to_string(k) + ")");
    }
  }

  rows_ = directRows(model_.points, model_.metric);
  if (model_.metric == Metric::Cosine) {
    screen_ = rows_.cast<float>();
  } else {
    // Centred before rounding to float: the screening error scales with the
    // norms, which are then the spread of the data, not its offset.
    centre_ = model_.points.colwise().mean();
    screen_ = (model_.points.rowwise() - centre_).cast<float>();
  }
  screenNorms_ = screen_.cast<double>().rowwise().squaredNorm();
  maxScreenLength_ = std::sqrt(screenNorms_.maxCoeff());
  coreKeys_ = model_.metric == Metric::Cosine ? model_.core_distances
                                              : VectorXd(model_.core_distances.array().square());
}

void HdbscanPredictor::predict(const Eigen::Ref<const Eigen::MatrixXf>& cells,
                               std::vector<int>& labels, std::vector<float>& strengths) const {
  const Index n = rows_.rows();
  const Index d = rows_.cols();
  if (cells.cols() != d) {
    fail("cells have " + std::to_string(cells.cols()) + " features but the model has " +
         std::to_string(d));
  }
  const Index count = cells.rows();
  labels.assign(static_cast<size_t>(count), -1);
  strengths.assign(static_cast<size_t>(count), std::numeric_limits<float>::quiet_NaN());
  if (count == 0) return;

  const bool cosine = model_.metric == Metric::Cosine;
  const Index k = model_.min_samples;
  const VectorXd& core = model_.core_distances;
  // Bounds on |float product - direct distance|, with a factor 2 to spare:
  // the float product of the screening copies errs by at most d u |x| |y|,
  // their rounding from double moves a distance by at most u (|x| + |y|), and
  // the direct double computation is 2^29 times more exact than either.
  constexpr double u = 0x1.0p-24;
  const double productTolerance = 2.0 * static_cast<double>(d + 4) * u;
  // Relative slack for comparing in "key" space (squared distances for
  // Euclidean) rather than distances: covers the rounding of squares and
  // square roots, so that the screens below only ever let more samples in.
  constexpr double kSlack = 1e-12;
  // The screening works on keys, monotone in the distance, that need no
  // square root per sample: squared distances (Euclidean) or the cosine
  // distance itself.
  auto toDistance = [cosine](double key) { return cosine ? key : std::sqrt(key); };
  auto toKey = [cosine](double distance) {
    return (cosine ? distance : distance * distance) * (1 + kSlack);
  };

  constexpr Index kBlock = 256;
  RowMajorMatrix queries;
  Eigen::MatrixXf block;
  Eigen::MatrixXf scores;  // n x rows: column i is cell i's products, contiguous
  std::vector<char> valid;
  VectorXd queryNorms;
  std::vector<double> lowKeys(static_cast<size_t>(n));
  std::vector<double> smallest;
  std::vector<double> exact(static_cast<size_t>(n), -1.0);
  std::vector<Index> computed;
  std::vector<double> values;
  values.reserve(static_cast<size_t>(n));

  for (Index r0 = 0; r0 < count; r0 += kBlock) {
    const Index rows = std::min(kBlock, count - r0);
    queries = cells.middleRows(r0, rows).cast<double>();
    block.resize(rows, d);
    valid.assign(static_cast<size_t>(rows), 1);
    queryNorms.resize(rows);
    for (Index i = 0; i < rows; ++i) {
      double* q = &queries(i, 0);
      for (Index t = 0; t < d; ++t) {
        if (!std::isfinite(q[t])) valid[static_cast<size_t>(i)] = 0;
      }
      if (!valid[static_cast<size_t>(i)]) {
        queries.row(i).setZero();
        block.row(i).setZero();
        queryNorms(i) = 0;
        continue;
      }
      if (cosine) normalise(q, d);
      double norm = 0;
      for (Index t = 0; t < d; ++t) {
        const auto value = static_cast<float>(cosine ? q[t] : q[t] - centre_(t));
        block(i, t) = value;
        norm += static_cast<double>(value) * static_cast<double>(value);
      }
      queryNorms(i) = norm;
    }
    scores.noalias() = screen_ * block.transpose();

    for (Index i = 0; i < rows; ++i) {
      if (!valid[static_cast<size_t>(i)]) continue;
      const double* q = &queries(i, 0);
      const float* s = &scores(0, i);
      const double qNorm = queryNorms(i);
      // Distance bounds are toDistance(lowKey) - margin and
      // toDistance(highKey) + margin; margin covers the screening copies'
      // rounding from double (largest norm, for one margin per cell).
      const double margin = cosine ? 0.0 : 2.0 * u * (std::sqrt(qNorm) + maxScreenLength_);

      // One sweep over the training samples: the low key of each; the k
      // smallest high keys (at least k samples are within the largest of
      // them, so the cell's core distance is too); and the smallest
      // max(core key, high key), which bounds the best mutual reachability
      // once the cell's core distance is known.
      smallest.clear();
      double kthHigh = kInfinity;
      size_t kthSlot = 0;
      double reachKey = kInfinity;
      for (Index j = 0; j < n; ++j) {
        double low;
        double high;
        if (cosine) {
          const double a = 1.0 - static_cast<double>(s[j]);
          low = std::max(0.0, a - productTolerance);
          high = std::max(0.0, a + productTolerance);
        } else {
          const double norms = qNorm + screenNorms_(j);
          const double a = norms - 2.0 * static_cast<double>(s[j]);
          const double tolerance = productTolerance * norms;
          low = std::max(0.0, a - tolerance);
          high = std::max(0.0, a + tolerance);
        }
        if (!(low <= high)) {  // overflow in the product: decide by direct distances
          low = 0;
          high = kInfinity;
        }
        lowKeys[static_cast<size_t>(j)] = low;
        reachKey = std::min(reachKey, std::max(coreKeys_(j), high));
        if (smallest.size() < static_cast<size_t>(k)) {
          smallest.push_back(high);
          if (smallest.size() == static_cast<size_t>(k)) {
            kthSlot = static_cast<size_t>(std::max_element(smallest.begin(), smallest.end()) -
                                          smallest.begin());
            kthHigh = smallest[kthSlot];
          }
        } else if (high < kthHigh) {
          smallest[kthSlot] = high;
          kthSlot = static_cast<size_t>(std::max_element(smallest.begin(), smallest.end()) -
                                        smallest.begin());
          kthHigh = smallest[kthSlot];
        }
      }
      auto exactAt = [&](Index j) {
        double& value = exact[static_cast<size_t>(j)];
        if (value < 0) {
          value = directDistance(q, &rows_(j, 0), d, cosine);
          computed.push_back(j);
        }
        return value;
      };

      // Core distance: the k-th smallest direct distance, among the samples
      // whose lower bound is within the k-th smallest upper bound.
      const double kthUpper = toDistance(kthHigh) + margin;
      const double coreScreen = toKey(kthUpper + margin);
      values.clear();
      for (Index j = 0; j < n; ++j) {
        if (lowKeys[static_cast<size_t>(j)] <= coreScreen) values.push_back(exactAt(j));
      }
      std::nth_element(values.begin(), values.begin() + (k - 1), values.end());
      const double cellCore = values[static_cast<size_t>(k - 1)];

      // The training sample of smallest mutual reachability
      // max(cellCore, core(j), d(j)) is at most `bound` (the best upper
      // bound, tightened by the direct distances already known), so only
      // samples whose lower bounds are within it need their direct distance.
      double reachUpper = toDistance(reachKey) * (1 + kSlack) + margin;
      for (const Index j : computed) {
        reachUpper = std::min(reachUpper, std::max(core(j), exact[static_cast<size_t>(j)]));
      }
      const double bound = std::max(cellCore, reachUpper);
      const double reachScreen = toKey(bound + margin);
      Index nearest = -1;
      double nearestReach = kInfinity;
      double nearestDistance = kInfinity;
      for (Index j = 0; j < n; ++j) {
        if (core(j) > bound || lowKeys[static_cast<size_t>(j)] > reachScreen) continue;
        const double distance = exactAt(j);
        const double mutual = std::max({cellCore, core(j), distance});
        // Ascending j: ties (same reach and distance) keep the lower index.
        if (nearest < 0 || mutual < nearestReach ||
            (mutual == nearestReach && distance < nearestDistance)) {
          nearest = j;
          nearestReach = mutual;
          nearestDistance = distance;
        }
      }
      for (const Index j : computed) exact[static_cast<size_t>(j)] = -1.0;
      computed.clear();

      const auto out = static_cast<size_t>(r0 + i);
      const int label = nearest < 0 ? -1 : model_.labels[static_cast<size_t>(nearest)];
      const double lambda = lambdaOf(nearestReach);
      if (label < 0 || lambda < model_.birth_lambdas[static_cast<size_t>(label)]) {
        labels[out] = -1;
        strengths[out] = 0.0f;
        continue;
      }
      const double maxLambda = model_.max_lambdas[static_cast<size_t>(label)];
      labels[out] = label;
      strengths[out] = static_cast<float>(
          maxLambda == 0 || !std::isfinite(lambda) ? 1.0 : std::min(lambda, maxLambda) / maxLambda);
    }
  }
}

void predictHdbscan(const HdbscanModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                    std::vector<int>& labels, std::vector<float>& strengths) {
  HdbscanPredictor(model).predict(cells, labels, strengths);
}

}  // namespace vitfeat::math
