#include "pixelfunctions/random_forest.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "pixelfunctions/class_metrics.h"
#include "pixelfunctions/random.h"

namespace vitfeat::math {

namespace {

using Eigen::Index;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("random forest: " + message);
}

struct Split {
  int feature = -1;
  double threshold = 0;
  // Gini "proxy": sum_c L_c^2 / |L| + sum_c R_c^2 / |R| over the weighted class
  // counts of the children. The weighted Gini impurity of the children is the
  // node's weight minus this, so the largest proxy is the best split, and it
  // needs no division per class.
  double proxy = -std::numeric_limits<double>::infinity();
};

// Grows the trees of one forest. The per-tree buffers live here so that the
// trees reuse them.
class TreeBuilder {
 public:
  TreeBuilder(const Eigen::Ref<const Eigen::MatrixXd>& samples, const std::vector<int>& labels,
              int classes, int maxFeatures, const RandomForestOptions& options)
      : samples_(samples),
        labels_(labels),
        classes_(classes),
        maxFeatures_(maxFeatures),
        maxDepth_(options.max_depth),
        minLeaf_(options.min_samples_leaf),
        bootstrap_(options.bootstrap) {}

  DecisionTree grow(Random& random);

 private:
  struct Pending {
    Index start, end;  // range of members_
    int depth;
    int parent;
    bool isLeft;
  };

  Split findSplit(Index start, Index end, const std::vector<int64_t>& counts, int64_t total,
                  Random& random);

  const Eigen::Ref<const Eigen::MatrixXd>& samples_;
  const std::vector<int>& labels_;
  const int classes_;
  const int maxFeatures_;
  const int maxDepth_;
  const int minLeaf_;
  const bool bootstrap_;

  std::vector<int64_t> weight_;  // bootstrap multiplicity of each sample
  std::vector<Index> members_;   // distinct samples of the tree, each node's a contiguous range
  std::vector<int> featureOrder_;
  std::vector<std::pair<double, Index>> sorted_;
  std::vector<int64_t> leftCounts_;
};

DecisionTree TreeBuilder::grow(Random& random) {
  const Index n = samples_.rows();
  const auto d = static_cast<int>(samples_.cols());
  // Weights rather than repeated rows: the same impurities as the duplicated
  // bootstrap sample, with each distinct sample sorted once per node.
  weight_.assign(static_cast<size_t>(n), bootstrap_ ? 0 : 1);
  if (bootstrap_) {
    for (Index draw = 0; draw < n; ++draw) ++weight_[random.below(static_cast<uint64_t>(n))];
  }
  members_.clear();
  for (Index i = 0; i < n; ++i) {
    if (weight_[static_cast<size_t>(i)] > 0) members_.push_back(i);
  }
  // Reset per tree so that a tree depends only on its own generator.
  featureOrder_.resize(static_cast<size_t>(d));
  for (int f = 0; f < d; ++f) featureOrder_[static_cast<size_t>(f)] = f;

  DecisionTree tree;
  const auto k = static_cast<size_t>(classes_);
  std::vector<int64_t> counts(k);
  // Depth first, left child first: children get higher indices than their
  // parent, which validateRandomForest relies on.
  std::vector<Pending> stack{{0, static_cast<Index>(members_.size()), 0, -1, false}};
  while (!stack.empty()) {
    const Pending pending = stack.back();
    stack.pop_back();
    const int node = tree.nodes();
    tree.feature.push_back(-1);
    tree.threshold.push_back(0);
    tree.left.push_back(-1);
    tree.right.push_back(-1);
    if (pending.parent >= 0) {
      (pending.isLeft ? tree.left : tree.right)[static_cast<size_t>(pending.parent)] = node;
    }

    std::fill(counts.begin(), counts.end(), 0);
    int64_t total = 0;
    for (Index r = pending.start; r < pending.end; ++r) {
      const Index i = members_[static_cast<size_t>(r)];
      const int64_t w = weight_[static_cast<size_t>(i)];
      counts[static_cast<size_t>(labels_[static_cast<size_t>(i)])] += w;
      total += w;
    }
    int present = 0;
    for (size_t c = 0; c < k; ++c) {
      tree.value.push_back(static_cast<double>(counts[c]) / static_cast<double>(total));
      present += counts[c] > 0;
    }

    const Index size = pending.end - pending.start;
    if (present < 2 || size < 2 * static_cast<Index>(minLeaf_) ||
        (maxDepth_ > 0 && pending.depth >= maxDepth_)) {
      continue;
    }
    const Split split = findSplit(pending.start, pending.end, counts, total, random);
    if (split.feature < 0) continue;  // every feature constant, or no split leaves minLeaf_ a side

    const auto first = members_.begin() + pending.start;
    const auto middle = std::partition(first, members_.begin() + pending.end, [&](Index i) {
      return samples_(i, split.feature) <= split.threshold;
    });
    const Index mid = middle - members_.begin();
    tree.feature[static_cast<size_t>(node)] = split.feature;
    tree.threshold[static_cast<size_t>(node)] = split.threshold;
    stack.push_back({mid, pending.end, pending.depth + 1, node, false});
    stack.push_back({pending.start, mid, pending.depth + 1, node, true});
  }
  return tree;
}

Split TreeBuilder::findSplit(Index start, Index end, const std::vector<int64_t>& counts,
                             int64_t total, Random& random) {
  const auto d = static_cast<int>(featureOrder_.size());
  const auto k = static_cast<size_t>(classes_);
  const Index size = end - start;
  int64_t squaresAll = 0;
  for (size_t c = 0; c < k; ++c) squaresAll += counts[c] * counts[c];

  Split best;
  int tried = 0;
  // Features in a random order without repetition (a partial Fisher-Yates
  // shuffle), until maxFeatures_ non-constant ones have been tried or none is
  // left: as in scikit-learn, a constant feature costs no try, so a node
  // splits whenever some feature can split it.
  for (int visited = 0; visited < d && tried < maxFeatures_; ++visited) {
    const auto pick = visited + static_cast<int>(random.below(static_cast<uint64_t>(d - visited)));
    std::swap(featureOrder_[static_cast<size_t>(visited)],
              featureOrder_[static_cast<size_t>(pick)]);
    const int f = featureOrder_[static_cast<size_t>(visited)];

    sorted_.clear();
    double lowest = std::numeric_limits<double>::infinity();
    double highest = -lowest;
    for (Index r = start; r < end; ++r) {
      const Index i = members_[static_cast<size_t>(r)];
      const double x = samples_(i, f);
      sorted_.emplace_back(x, i);
      lowest = std::min(lowest, x);
      highest = std::max(highest, x);
    }
    if (lowest == highest) continue;
    ++tried;
    // Ties in value broken by sample index: a total order, so the same input
    // sorts the same way with any std::sort.
    std::sort(sorted_.begin(), sorted_.end());

    // Exact integer sums of squares, updated as samples move left one by one.
    leftCounts_.assign(k, 0);
    int64_t squaresLeft = 0;
    int64_t squaresRight = squaresAll;
    int64_t weightLeft = 0;
    for (Index p = 0; p + 1 < size; ++p) {
      const Index i = sorted_[static_cast<size_t>(p)].second;
      const auto c = static_cast<size_t>(labels_[static_cast<size_t>(i)]);
      const int64_t w = weight_[static_cast<size_t>(i)];
      const int64_t rightBefore = counts[c] - leftCounts_[c];
      squaresLeft += (2 * leftCounts_[c] + w) * w;
      squaresRight -= (2 * rightBefore - w) * w;
      leftCounts_[c] += w;
      weightLeft += w;
      const double x = sorted_[static_cast<size_t>(p)].first;
      const double next = sorted_[static_cast<size_t>(p + 1)].first;
      if (!(x < next)) continue;  // a threshold cannot separate equal values
      if (p + 1 < minLeaf_) continue;
      if (size - (p + 1) < minLeaf_) break;
      const double proxy =
          static_cast<double>(squaresLeft) / static_cast<double>(weightLeft) +
          static_cast<double>(squaresRight) / static_cast<double>(total - weightLeft);
      // Strict >: the first best split found wins, in the random feature order.
      if (proxy > best.proxy) {
        best.proxy = proxy;
        best.feature = f;
        double threshold = (x + next) / 2;
        // Adjacent doubles (or an overflowing sum) round the midpoint up to
        // `next`, which would send it left too.
        if (!(threshold < next)) threshold = x;
        best.threshold = threshold;
      }
    }
  }
  return best;
}

// The largest float at most `threshold`: for every float x (NaN included),
// x <= result exactly when double(x) <= threshold, so the walk can compare
// floats without converting each feature value.
float floatThreshold(double threshold) {
  float rounded = static_cast<float>(threshold);
  if (static_cast<double>(rounded) > threshold) {
    rounded = std::nextafter(rounded, -std::numeric_limits<float>::infinity());
  }
  return rounded;
}

std::string lowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

int resolveMaxFeatures(const std::string& spec, int d) {
  if (d < 1) fail("no features (d = " + std::to_string(d) + ")");
  const std::string valid =
      ": use sqrt, log2, all or a count in [1, " + std::to_string(d) + "] (the features)";
  const std::string name = lowerCase(spec);
  if (name == "sqrt") {
    // Integer square root, exact where a double's sqrt could round up.
    int root = static_cast<int>(std::sqrt(static_cast<double>(d)));
    while (static_cast<int64_t>(root) * root > d) --root;
    while (static_cast<int64_t>(root + 1) * (root + 1) <= d) ++root;
    return std::max(1, root);
  }
  if (name == "log2") {
    int bits = 0;
    while ((int64_t{2} << bits) <= d) ++bits;  // floor(log2(d))
    return std::max(1, bits);
  }
  if (name == "all") return d;
  if (name.empty() || name.size() > 9 ||
      !std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); })) {
    fail("max_features '" + spec + "' is invalid" + valid);
  }
  const int count = std::stoi(name);
  if (count < 1 || count > d) fail("max_features " + spec + " is invalid" + valid);
  return count;
}

RandomForestModel fitRandomForest(const Eigen::Ref<const Eigen::MatrixXd>& samples,
                                  const std::vector<int>& labels, int classes,
                                  const RandomForestOptions& options) {
  const Index n = samples.rows();
  const Index d = samples.cols();
  if (n < 1) fail("no training samples: at least 1 is needed");
  if (d < 1 || d > std::numeric_limits<int>::max()) {
    fail("the samples have " + std::to_string(d) + " features: it must be in [1, 2^31)");
  }
  if (options.n_trees < 1) {
    fail("n_trees = " + std::to_string(options.n_trees) + " is invalid: it must be >= 1");
  }
  if (options.max_depth < 0) {
    fail("max_depth = " + std::to_string(options.max_depth) +
         " is invalid: it must be >= 1, or 0 for unlimited");
  }
  if (options.min_samples_leaf < 1) {
    fail("min_samples_leaf = " + std::to_string(options.min_samples_leaf) +
         " is invalid: it must be >= 1");
  }
  const int maxFeatures = resolveMaxFeatures(options.max_features, static_cast<int>(d));
  checkTrainingLabels(labels, classes, n, "random forest");
  if (!samples.allFinite()) fail("the samples contain NaN or infinite values");

  RandomForestModel model;
  model.classes = classes;
  model.features = static_cast<int>(d);
  model.trees.reserve(static_cast<size_t>(options.n_trees));
  TreeBuilder builder(samples, labels, classes, maxFeatures, options);
  // One generator per tree, seeded from a master: tree t is the same whatever
  // n_trees is, and trees could be grown in parallel without changing them.
  Random master(options.seed);
  for (int t = 0; t < options.n_trees; ++t) {
    Random random(master.next());
    model.trees.push_back(builder.grow(random));
  }
  return model;
}

void validateRandomForest(const RandomForestModel& model) {
  if (model.classes < 1) {
    fail("model classes = " + std::to_string(model.classes) + " is invalid: it must be >= 1");
  }
  if (model.features < 1) {
    fail("model features = " + std::to_string(model.features) + " is invalid: it must be >= 1");
  }
  if (model.trees.empty()) fail("the model has no trees: it needs at least 1");
  const auto k = static_cast<size_t>(model.classes);
  for (size_t t = 0; t < model.trees.size(); ++t) {
    const DecisionTree& tree = model.trees[t];
    const std::string where = "tree " + std::to_string(t);
    const size_t nodes = tree.feature.size();
    if (nodes < 1) fail(where + " has no nodes: it needs at least 1");
    if (nodes > static_cast<size_t>(std::numeric_limits<int>::max()) ||
        tree.threshold.size() != nodes || tree.left.size() != nodes || tree.right.size() != nodes ||
        tree.value.size() != nodes * k) {
      fail(where + " has inconsistent arrays: feature " + std::to_string(nodes) + ", threshold " +
           std::to_string(tree.threshold.size()) + ", left " + std::to_string(tree.left.size()) +
           ", right " + std::to_string(tree.right.size()) + ", value " +
           std::to_string(tree.value.size()) + " (must be nodes, nodes, nodes, nodes, nodes x " +
           std::to_string(k) + " classes)");
    }
    for (size_t node = 0; node < nodes; ++node) {
      const int f = tree.feature[node];
      const int l = tree.left[node];
      const int r = tree.right[node];
      const std::string at = where + " node " + std::to_string(node);
      if (f == -1) {
        if (l != -1 || r != -1) fail(at + " is a leaf (feature -1) with children: they must be -1");
        continue;
      }
      if (f < 0 || f >= model.features) {
        fail(at + " splits on feature " + std::to_string(f) + ": it must be in [0, " +
             std::to_string(model.features - 1) + "], or -1 for a leaf");
      }
      const auto node32 = static_cast<int>(node);
      const auto count32 = static_cast<int>(nodes);
      if (l <= node32 || l >= count32 || r <= node32 || r >= count32) {
        fail(at + " has children " + std::to_string(l) + " and " + std::to_string(r) +
             ": they must be in [" + std::to_string(node + 1) + ", " + std::to_string(nodes - 1) +
             "] (after their parent)");
      }
    }
  }
}

void predictProba(const RandomForestModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
                  Eigen::MatrixXd& out) {
  validateRandomForest(model);
  if (cells.cols() != model.features) {
    fail("cells have " + std::to_string(cells.cols()) + " features but the model has " +
         std::to_string(model.features));
  }
  const Index count = cells.rows();
  const Index d = cells.cols();
  const auto k = static_cast<size_t>(model.classes);

  // The four per-node arrays interleaved in 16 bytes, so that a step down a
  // tree touches one cache line instead of four; all trees in one array.
  // Leaves loop onto themselves (any value, NaN too, goes to the node itself),
  // so that a walk can take steps without testing for a leaf first.
  struct Node {
    float threshold;
    int feature;
    int child[2];  // left, right
  };
  std::vector<Node> nodes;
  std::vector<size_t> roots;
  for (const DecisionTree& tree : model.trees) {
    roots.push_back(nodes.size());
    for (size_t n = 0; n < tree.feature.size(); ++n) {
      const auto self = static_cast<int>(n);
      if (tree.feature[n] < 0) {
        nodes.push_back({std::numeric_limits<float>::infinity(), 0, {self, self}});
      } else {
        nodes.push_back(
            {floatThreshold(tree.threshold[n]), tree.feature[n], {tree.left[n], tree.right[n]}});
      }
    }
  }

  out.resize(count, model.classes);
  // The walk reads one feature per level at random, so the cells go in small
  // chunks copied cell by cell (row-major): a cell's features then share a few
  // cache lines, and the chunk stays in cache while every tree walks it.
  constexpr Index kChunk = 64;
  // Cells walked together: each step of one cell waits on the previous one
  // (node, then feature, then compare), and a branch on the comparison would
  // be mispredicted half the time; kLanes independent walks with selects
  // instead of branches keep the processor busy.
  constexpr int kLanes = 8;
  std::vector<float> chunk(static_cast<size_t>(kChunk * d));
  std::vector<double> sums(static_cast<size_t>(kChunk) * k);
  std::vector<char> invalid(static_cast<size_t>(kChunk));
  const auto trees = static_cast<double>(model.trees.size());
  for (Index r0 = 0; r0 < count; r0 += kChunk) {
    const Index rows = std::min(kChunk, count - r0);
    std::fill(invalid.begin(), invalid.end(), 0);
    for (Index j = 0; j < d; ++j) {
      for (Index r = 0; r < rows; ++r) {
        const float x = cells(r0 + r, j);
        chunk[static_cast<size_t>(r * d + j)] = x;
        invalid[static_cast<size_t>(r)] |= std::isnan(x);
      }
    }
    std::fill(sums.begin(), sums.end(), 0.0);
    for (size_t t = 0; t < model.trees.size(); ++t) {
      const Node* tree = &nodes[roots[t]];
      const double* values = model.trees[t].value.data();
      for (Index r = 0; r < rows; r += kLanes) {
        const float* cell[kLanes];
        int node[kLanes];
        for (int l = 0; l < kLanes; ++l) {
          // Lanes past the chunk's end repeat its last cell; only real ones are summed.
          cell[l] = &chunk[static_cast<size_t>(std::min<Index>(r + l, rows - 1) * d)];
          node[l] = 0;
        }
        for (bool moved = true; moved;) {
          moved = false;
          for (int l = 0; l < kLanes; ++l) {
            const Node& split = tree[node[l]];
            // An index, not a branch: the comparison is a coin flip to the predictor.
            const int next = split.child[!(cell[l][split.feature] <= split.threshold)];
            moved |= next != node[l];
            node[l] = next;
          }
        }
        for (int l = 0; l < kLanes && r + l < rows; ++l) {
          const double* leaf = values + static_cast<size_t>(node[l]) * k;
          double* sum = &sums[static_cast<size_t>(r + l) * k];
          for (size_t c = 0; c < k; ++c) sum[c] += leaf[c];
        }
      }
    }
    for (Index r = 0; r < rows; ++r) {
      for (size_t c = 0; c < k; ++c) {
        out(r0 + r, static_cast<Index>(c)) = invalid[static_cast<size_t>(r)]
                                                 ? std::numeric_limits<double>::quiet_NaN()
                                                 : sums[static_cast<size_t>(r) * k + c] / trees;
      }
    }
  }
}

void predict(const RandomForestModel& model, const Eigen::Ref<const Eigen::MatrixXf>& cells,
             std::vector<int>& labels) {
  Eigen::MatrixXd probabilities;
  predictProba(model, cells, probabilities);
  argmaxLabels(probabilities, labels);
}

}  // namespace vitfeat::math
