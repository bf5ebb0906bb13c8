// HDBSCAN against synthetic clusters of known membership (adjusted Rand
// index), a small case derived by hand, approximate prediction and its
// per-cell independence, determinism and option checks.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pixelfunctions/hdbscan.h"
#include "tests/support/draw.h"
#include "tests/support/feature_blobs.h"

using vitfeat::math::fitHdbscan;
using vitfeat::math::HdbscanFit;
using vitfeat::math::HdbscanModel;
using vitfeat::math::HdbscanOptions;
using vitfeat::math::HdbscanPredictor;
using vitfeat::math::Metric;
using vitfeat::math::predictHdbscan;
using vitfeat::test::Draw;

namespace {

// Adjusted Rand index (Hubert & Arabie 1985) of two labellings of the same
// samples; every label value, -1 included, is one class.
double adjustedRandIndex(const std::vector<int>& a, const std::vector<int>& b) {
  REQUIRE(a.size() == b.size());
  std::map<std::pair<int, int>, double> joint;
  std::map<int, double> rows;
  std::map<int, double> cols;
  for (size_t i = 0; i < a.size(); ++i) {
    ++joint[{a[i], b[i]}];
    ++rows[a[i]];
    ++cols[b[i]];
  }
  auto pairs = [](double count) { return count * (count - 1) / 2; };
  double index = 0;
  for (const auto& [key, count] : joint) index += pairs(count);
  double sumRows = 0;
  for (const auto& [key, count] : rows) sumRows += pairs(count);
  double sumCols = 0;
  for (const auto& [key, count] : cols) sumCols += pairs(count);
  const double expected = sumRows * sumCols / pairs(static_cast<double>(a.size()));
  const double maximum = (sumRows + sumCols) / 2;
  if (maximum == expected) return 1.0;  // both labellings trivial
  return (index - expected) / (maximum - expected);
}

struct Blob {
  int size;
  double std;
};

struct Data {
  Eigen::MatrixXd samples;  // n x d, float-representable values
  std::vector<int> truth;   // blob of each sample, `blobs` for background noise
};

// Gaussian blobs of different sizes and spreads whose centres are 25 apart on
// the first axes, plus points uniform in a box around all of them; shuffled so
// that blobs and noise interleave.
Data makeData(const std::vector<Blob>& blobs, int noise, int d, uint64_t seed) {
  Draw draw(seed);
  std::vector<int> truth;
  for (size_t c = 0; c < blobs.size(); ++c) {
    truth.insert(truth.end(), static_cast<size_t>(blobs[c].size), static_cast<int>(c));
  }
  truth.insert(truth.end(), static_cast<size_t>(noise), static_cast<int>(blobs.size()));
  for (size_t i = truth.size(); i > 1; --i) {
    std::swap(truth[i - 1], truth[static_cast<size_t>(draw.engine() % i)]);
  }
  Data data;
  data.samples.resize(static_cast<Eigen::Index>(truth.size()), d);
  for (size_t i = 0; i < truth.size(); ++i) {
    const auto c = static_cast<size_t>(truth[i]);
    for (int j = 0; j < d; ++j) {
      double value;
      if (c == blobs.size()) {
        value = -50 + 140 * draw.uniform();
      } else {
        const double centre = static_cast<size_t>(j) + 1 == c ? 25.0 : 0.0;
        value = centre + blobs[c].std * draw.normal();
      }
      data.samples(static_cast<Eigen::Index>(i), j) = static_cast<float>(value);
    }
  }
  data.truth = std::move(truth);
  return data;
}

// The fitted label most samples of each truth class got.
std::vector<int> majorityLabels(const std::vector<int>& truth, const std::vector<int>& labels,
                                int classes) {
  std::vector<int> out;
  for (int c = 0; c < classes; ++c) {
    std::map<int, int> votes;
    for (size_t i = 0; i < truth.size(); ++i) {
      if (truth[i] == c) ++votes[labels[i]];
    }
    int best = -2;
    int bestVotes = -1;
    for (const auto& [label, count] : votes) {
      if (count > bestVotes) {
        best = label;
        bestVotes = count;
      }
    }
    out.push_back(best);
  }
  return out;
}

const std::vector<Blob> kBlobs = {{300, 0.5}, {200, 1.5}, {120, 3.0}};

}  // namespace

TEST_CASE("adjusted Rand index matches known values", "[math][hdbscan]") {
  CHECK(adjustedRandIndex({0, 0, 1, 1}, {1, 1, 0, 0}) == Approx(1.0));
  // scikit-learn's adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]) = 4/7.
  CHECK(adjustedRandIndex({0, 0, 1, 1}, {0, 0, 1, 2}) == Approx(4.0 / 7.0));
  CHECK(adjustedRandIndex({0, 0, 0, 0}, {0, 1, 2, 3}) == Approx(0.0));
}

TEST_CASE("hdbscan finds blobs of different densities among background noise", "[math][hdbscan]") {
  const int d = GENERATE(2, 8, 16);
  const Data data = makeData(kBlobs, 80, d, 7 + static_cast<uint64_t>(d));
  HdbscanOptions options;
  options.min_cluster_size = 15;
  options.min_samples = 8;
  const HdbscanFit fit = fitHdbscan(data.samples, options);
  const std::vector<int>& labels = fit.model.labels;

  const double ari = adjustedRandIndex(data.truth, labels);
  int noise = 0;
  int noiseAsNoise = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (data.truth[i] != 3) continue;
    ++noise;
    if (labels[i] == -1) ++noiseAsNoise;
  }
  const double noiseFraction = static_cast<double>(noiseAsNoise) / noise;
  std::cout << "hdbscan blobs d=" << d << ": ARI " << ari << ", background labelled noise "
            << noiseFraction << ", clusters " << fit.sizes.size() << "\n";
  CHECK(ari >= 0.9);
  CHECK(noiseFraction >= 0.85);
  REQUIRE(fit.sizes.size() == 3);
  // Each blob is one cluster; labels are by size, so the blobs' order.
  CHECK(majorityLabels(data.truth, labels, 3) == std::vector<int>{0, 1, 2});

  // Sizes, ordering, strengths and lambdas are consistent with the labels.
  std::vector<int64_t> counts(3, 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= 0) ++counts[static_cast<size_t>(labels[i])];
    if (labels[i] < 0) {
      CHECK(fit.strengths[i] == 0.0);
    } else {
      CHECK(fit.strengths[i] > 0.0);
      CHECK(fit.strengths[i] <= 1.0);
    }
  }
  CHECK(counts == fit.sizes);
  CHECK(fit.sizes[0] >= fit.sizes[1]);
  CHECK(fit.sizes[1] >= fit.sizes[2]);
  for (size_t c = 0; c < 3; ++c) {
    CHECK(fit.model.birth_lambdas[c] > 0);
    CHECK(fit.model.max_lambdas[c] > fit.model.birth_lambdas[c]);
    CHECK(fit.stabilities[c] > 0);
  }
}

TEST_CASE("hdbscan with the cosine metric clusters directions whatever the length",
          "[math][hdbscan]") {
  // Blobs around three orthogonal directions far from the origin, each sample
  // scaled by a random factor in [0.5, 4]: only the direction tells them apart.
  Data data = makeData(kBlobs, 0, 8, 99);
  Draw draw(5);
  for (Eigen::Index i = 0; i < data.samples.rows(); ++i) {
    data.samples(i, 4 + data.truth[static_cast<size_t>(i)]) += 40;
    data.samples.row(i) *= 0.5 + 3.5 * draw.uniform();
    data.samples.row(i) = data.samples.row(i).cast<float>().cast<double>();
  }
  HdbscanOptions options;
  options.min_cluster_size = 15;
  options.metric = Metric::Cosine;
  const HdbscanFit fit = fitHdbscan(data.samples, options);
  const double ari = adjustedRandIndex(data.truth, fit.model.labels);
  std::cout << "hdbscan cosine: ARI " << ari << "\n";
  CHECK(ari >= 0.9);
  CHECK(fit.sizes.size() == 3);
  // The Euclidean metric sees the lengths and does much worse.
  options.metric = Metric::Euclidean;
  CHECK(adjustedRandIndex(data.truth, fitHdbscan(data.samples, options).model.labels) < ari);
}

TEST_CASE("hdbscan matches a small case derived by hand", "[math][hdbscan]") {
  // 1-D, min_samples = 2 (the sample itself and its nearest other sample), so
  // core distance = distance to the nearest other sample; min_cluster_size 2.
  //
  //   x     10   10.5 11.5 12.25 13.5 20.5 30   30.25 33   33.25 33.5 60
  //   core  0.5  0.5  0.75 0.75  1.25 7    0.25 0.25  0.25 0.25  0.25 26.5
  //
  // In 1-D with min_samples = 2 the chain of neighbours is a minimum spanning
  // tree of mutual reachability (for a < b < c, core(b) <= d(a, c), so both
  // short edges are at most mr(a, c)). Its edges, mr = max(core, core, d):
  //   10-10.5 0.5, 10.5-11.5 1, 11.5-12.25 0.75, 12.25-13.5 1.25, 13.5-20.5 7,
  //   20.5-30 9.5, 30-30.25 0.25, 30.25-33 2.75, 33-33.25 0.25, 33.25-33.5 0.25,
  //   33.5-60 26.5.
  // Condensed tree (lambda = 1 / distance), from the top:
  //   26.5: 60 falls out of the root at 1/26.5 -> noise (the root is never selected).
  //   9.5:  L = {10 .. 20.5} (6) and Q = {30 .. 33.5} (5) are born at 2/19.
  //   L: 20.5 falls out at 1/7, 13.5 at 0.8; at 1 it splits into L1 = {10, 10.5}
  //      and L2 = {11.5, 12.25} (born at 1), which end at 2 and 4/3.
  //      stability(L) = (1/7 - 2/19) + (0.8 - 2/19) + 4 (1 - 2/19) = 2867/665;
  //      L1 + L2 = 2 (2 - 1) + 2 (4/3 - 1) = 8/3 < 2867/665: L is selected.
  //   Q: at 2.75 splits into Q1 = {30, 30.25} and Q2 = {33, 33.25, 33.5}, born at
  //      4/11, all of whose samples fall out at 4.
  //      stability(Q) = 5 (4/11 - 2/19) = 270/209; Q1 + Q2 = 5 (4 - 4/11) = 200/11
  //      > 270/209: Q1 and Q2 are selected instead.
  // Labels by size: L -> 0, Q2 -> 1, Q1 -> 2. Max lambdas: L 1 (its children
  // clusters are born at 1), Q1 and Q2 4. Strengths: min(lambda, max) / max.
  const std::vector<double> x = {10, 10.5, 11.5, 12.25, 13.5, 20.5, 30, 30.25, 33, 33.25, 33.5, 60};
  const std::vector<double> core = {0.5,  0.5,  0.75, 0.75, 1.25, 7,
                                    0.25, 0.25, 0.25, 0.25, 0.25, 26.5};
  const std::vector<int> expectedLabels = {0, 0, 0, 0, 0, 0, 2, 2, 1, 1, 1, -1};
  const std::vector<double> expectedStrengths = {1, 1, 1, 1, 0.8, 1.0 / 7, 1, 1, 1, 1, 1, 0};
  // Fed in a scrambled order: the result must not depend on it.
  const std::vector<int> order = {7, 2, 11, 0, 9, 4, 1, 10, 5, 3, 8, 6};
  Eigen::MatrixXd samples(12, 1);
  for (size_t i = 0; i < order.size(); ++i) {
    samples(static_cast<Eigen::Index>(i), 0) = x[static_cast<size_t>(order[i])];
  }
  HdbscanOptions options;
  options.min_cluster_size = 2;
  options.min_samples = 2;
  const HdbscanFit fit = fitHdbscan(samples, options);
  const HdbscanModel& model = fit.model;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto p = static_cast<size_t>(order[i]);
    INFO("x = " << x[p]);
    CHECK(model.core_distances(static_cast<Eigen::Index>(i)) == Approx(core[p]));
    CHECK(model.labels[i] == expectedLabels[p]);
    CHECK(fit.strengths[i] == Approx(expectedStrengths[p]));
  }
  CHECK(fit.sizes == std::vector<int64_t>{6, 3, 2});
  REQUIRE(fit.stabilities.size() == 3);
  CHECK(fit.stabilities[0] == Approx(2867.0 / 665));
  CHECK(fit.stabilities[1] == Approx(120.0 / 11));
  CHECK(fit.stabilities[2] == Approx(80.0 / 11));
  CHECK(model.birth_lambdas == std::vector<double>{2.0 / 19, 4.0 / 11, 4.0 / 11});
  CHECK(model.max_lambdas == std::vector<double>{1.0, 4.0, 4.0});
  CHECK(model.min_samples == 2);

  // Prediction, by hand (core = distance to the 2nd nearest training sample):
  //   10.25: core 0.25, mr to 10 and 10.5 is 0.5 -> L at lambda 2, strength 1.
  //   17:    core 3.5; mr to 13.5 is 3.5 (to 20.5: 7) -> L at lambda 1/3.5 >= 2/19,
  //          strength 1/3.5.
  //   31.5:  core 1.5; mr 1.5 to 30, 30.25 and 33, the nearest is 30.25 -> Q1 at
  //          lambda 2/3 >= 4/11, strength (2/3) / 4.
  //   40:    core 6.75; mr 6.75 to 33.25 and 33.5 (nearer) -> Q2 at 1/6.75 < 4/11:
  //          noise.
  //   55:    nearest is 60 (noise) but mr to it is 26.5; to 33.5 21.5 -> 1/21.5
  //          < 4/11: noise.
  //   33.25: a training sample: its own core 0.25 -> Q2, strength 1 / 4 * 4 = 1.
  Eigen::MatrixXf cells(7, 1);
  cells << 10.25f, 17.0f, 31.5f, 40.0f, 55.0f, 33.25f, std::numeric_limits<float>::quiet_NaN();
  std::vector<int> labels;
  std::vector<float> strengths;
  predictHdbscan(model, cells, labels, strengths);
  CHECK(labels == std::vector<int>{0, 0, 2, -1, -1, 1, -1});
  CHECK(strengths[0] == Approx(1.0));
  CHECK(strengths[1] == Approx(1 / 3.5));
  CHECK(strengths[2] == Approx(2.0 / 3 / 4));
  CHECK(strengths[3] == 0.0f);
  CHECK(strengths[4] == 0.0f);
  CHECK(strengths[5] == Approx(1.0));
  CHECK(std::isnan(strengths[6]));
}

TEST_CASE("hdbscan approximate prediction follows the blobs, per cell", "[math][hdbscan]") {
  const int d = 8;
  const Data data = makeData(kBlobs, 80, d, 21);
  HdbscanOptions options;
  options.min_cluster_size = 15;
  options.min_samples = 8;
  const HdbscanFit fit = fitHdbscan(data.samples, options);
  const std::vector<int> blobLabel = majorityLabels(data.truth, fit.model.labels, 3);
  REQUIRE(blobLabel == std::vector<int>{0, 1, 2});
  const HdbscanPredictor predictor(fit.model);

  // Fresh draws from the same blobs, no background.
  const Data fresh = makeData({{400, 0.5}, {400, 1.5}, {400, 3.0}}, 0, d, 22);
  std::vector<int> labels;
  std::vector<float> strengths;
  predictor.predict(fresh.samples.cast<float>(), labels, strengths);
  int agree = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == blobLabel[static_cast<size_t>(fresh.truth[i])]) ++agree;
    CHECK(strengths[i] >= 0.0f);
    CHECK(strengths[i] <= 1.0f);
    CHECK((labels[i] == -1) == (strengths[i] == 0.0f));
  }
  const double agreement = static_cast<double>(agree) / static_cast<double>(labels.size());
  std::cout << "hdbscan prediction: " << agreement << " of fresh blob samples in their blob\n";
  CHECK(agreement >= 0.95);

  // Far from every blob (and from the background box): noise.
  Eigen::MatrixXf far(50, d);
  Draw draw(3);
  for (Eigen::Index i = 0; i < far.rows(); ++i) {
    for (Eigen::Index j = 0; j < d; ++j) far(i, j) = static_cast<float>(300 + 50 * draw.normal());
  }
  predictor.predict(far, labels, strengths);
  CHECK(labels == std::vector<int>(50, -1));

  // The training samples themselves get their training labels back.
  predictor.predict(data.samples.cast<float>(), labels, strengths);
  CHECK(labels == fit.model.labels);

  // A model written as text (17 significant digits) and read back predicts
  // bit for bit as the original: it holds everything prediction needs.
  auto roundTrip = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return std::strtod(text, nullptr);
  };
  HdbscanModel reloaded;
  reloaded.metric = vitfeat::math::parseMetric(vitfeat::math::metricName(fit.model.metric));
  reloaded.min_samples = fit.model.min_samples;
  reloaded.points = fit.model.points.unaryExpr(roundTrip);
  reloaded.core_distances = fit.model.core_distances.unaryExpr(roundTrip);
  reloaded.labels = fit.model.labels;
  for (const double lambda : fit.model.birth_lambdas) {
    reloaded.birth_lambdas.push_back(roundTrip(lambda));
  }
  for (const double lambda : fit.model.max_lambdas) {
    reloaded.max_lambdas.push_back(roundTrip(lambda));
  }
  std::vector<int> reloadedLabels;
  std::vector<float> reloadedStrengths;
  predictHdbscan(reloaded, fresh.samples.cast<float>(), reloadedLabels, reloadedStrengths);
  predictor.predict(fresh.samples.cast<float>(), labels, strengths);
  CHECK(reloadedLabels == labels);
  CHECK(reloadedStrengths == strengths);

  // Each cell alone gives bit for bit what it gets in a batch (with a NaN cell
  // and cells from everywhere in it).
  Eigen::MatrixXf batch(300, d);
  batch.topRows(200) = fresh.samples.topRows(200).cast<float>();
  batch.middleRows(200, 50) = far;
  batch.bottomRows(50) = data.samples.topRows(50).cast<float>();
  batch(17, 3) = std::numeric_limits<float>::quiet_NaN();
  std::vector<int> batchLabels;
  std::vector<float> batchStrengths;
  predictor.predict(batch, batchLabels, batchStrengths);
  CHECK(batchLabels[17] == -1);
  CHECK(std::isnan(batchStrengths[17]));
  for (Eigen::Index i = 0; i < batch.rows(); ++i) {
    predictor.predict(batch.row(i), labels, strengths);
    const auto b = static_cast<size_t>(i);
    CHECK(labels[0] == batchLabels[b]);
    if (std::isnan(batchStrengths[b])) {
      CHECK(std::isnan(strengths[0]));
    } else {
      CHECK(strengths[0] == batchStrengths[b]);
    }
  }
}

TEST_CASE("hdbscan prediction equals a search over every training sample", "[math][hdbscan]") {
  // The screened search against the definition computed the plain way: all
  // distances, the min_samples-th smallest as core distance, the smallest
  // mutual reachability. Far from the origin too (where the expanded form of
  // a squared distance loses most digits), and with the cosine metric.
  const Metric metric = GENERATE(Metric::Euclidean, Metric::Cosine);
  const double offset = GENERATE(0.0, 1000.0);
  Data data = makeData(kBlobs, 80, 6, 31);
  data.samples.array() += offset;
  data.samples = data.samples.cast<float>().cast<double>();
  HdbscanOptions options;
  options.min_cluster_size = 15;
  options.min_samples = 6;
  options.metric = metric;
  const HdbscanFit fit = fitHdbscan(data.samples, options);
  const HdbscanModel& model = fit.model;
  REQUIRE(!fit.sizes.empty());

  // Cells: fresh blob draws, background and points between.
  Data cellData = makeData(kBlobs, 200, 6, 32);
  cellData.samples.array() += offset;
  const Eigen::MatrixXf cells = cellData.samples.cast<float>();
  std::vector<int> labels;
  std::vector<float> strengths;
  predictHdbscan(model, cells, labels, strengths);

  const Eigen::Index n = model.points.rows();
  auto distance = [&](const Eigen::RowVectorXd& a, Eigen::Index j) {
    const Eigen::RowVectorXd b = model.points.row(j);
    if (metric == Metric::Euclidean) return (a - b).norm();
    return std::max(0.0, 1.0 - a.dot(b) / (a.norm() * b.norm()));
  };
  int clustered = 0;
  for (Eigen::Index i = 0; i < cells.rows(); ++i) {
    const Eigen::RowVectorXd x = cells.row(i).cast<double>();
    std::vector<double> all(static_cast<size_t>(n));
    for (Eigen::Index j = 0; j < n; ++j) all[static_cast<size_t>(j)] = distance(x, j);
    std::vector<double> sorted = all;
    std::sort(sorted.begin(), sorted.end());
    const double core = sorted[static_cast<size_t>(model.min_samples - 1)];
    // Ties (common: every sample within the cell's core distance whose own
    // core distance is smaller is at exactly the cell's core distance) go to
    // the nearer sample, then the lower index.
    Eigen::Index best = 0;
    double bestReach = std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < n; ++j) {
      const double d = all[static_cast<size_t>(j)];
      const double reach = std::max({core, model.core_distances(j), d});
      if (reach < bestReach || (reach == bestReach && d < all[static_cast<size_t>(best)])) {
        bestReach = reach;
        best = j;
      }
    }
    const int label = model.labels[static_cast<size_t>(best)];
    const double lambda = 1 / bestReach;
    INFO("metric " << vitfeat::math::metricName(metric) << " offset " << offset << " cell " << i);
    if (label < 0 || lambda < model.birth_lambdas[static_cast<size_t>(label)]) {
      CHECK(labels[static_cast<size_t>(i)] == -1);
      CHECK(strengths[static_cast<size_t>(i)] == 0.0f);
    } else {
      const double maxLambda = model.max_lambdas[static_cast<size_t>(label)];
      CHECK(labels[static_cast<size_t>(i)] == label);
      CHECK(strengths[static_cast<size_t>(i)] ==
            Approx(std::min(lambda, maxLambda) / maxLambda).epsilon(1e-5));
      ++clustered;
    }
  }
  // Both outcomes are exercised (the cosine metric sees no direction in the
  // blob around the origin, which is then mostly noise).
  std::cout << "hdbscan brute-force check " << vitfeat::math::metricName(metric) << " offset "
            << offset << ": " << fit.sizes.size() << " clusters, " << clustered
            << " cells clustered\n";
  CHECK(clustered >= 350);
  CHECK(clustered <= static_cast<int>(cells.rows()) - 150);
}

TEST_CASE("hdbscan is deterministic and independent of the sample order", "[math][hdbscan]") {
  const Data data = makeData(kBlobs, 80, 4, 11);
  HdbscanOptions options;
  options.min_cluster_size = 10;
  const HdbscanFit first = fitHdbscan(data.samples, options);
  const HdbscanFit second = fitHdbscan(data.samples, options);
  CHECK(first.model.labels == second.model.labels);
  CHECK(first.strengths == second.strengths);
  CHECK(first.model.core_distances == second.model.core_distances);
  CHECK(first.model.birth_lambdas == second.model.birth_lambdas);
  CHECK(first.model.max_lambdas == second.model.max_lambdas);
  CHECK(first.stabilities == second.stabilities);

  // Reversed rows: the same partition (same label per sample, as labels are
  // ordered by size).
  const Eigen::MatrixXd reversed = data.samples.colwise().reverse();
  const HdbscanFit backwards = fitHdbscan(reversed, options);
  const auto n = first.model.labels.size();
  std::vector<int> unreversed(n);
  for (size_t i = 0; i < n; ++i) unreversed[i] = backwards.model.labels[n - 1 - i];
  CHECK(unreversed == first.model.labels);
}

TEST_CASE("hdbscan edge cases", "[math][hdbscan]") {
  SECTION("one blob alone is noise: the root is never a cluster") {
    const Data data = makeData({{60, 1.0}}, 0, 3, 4);
    HdbscanOptions options;
    options.min_cluster_size = 40;  // no split leaves two parts of 40
    const HdbscanFit fit = fitHdbscan(data.samples, options);
    CHECK(fit.sizes.empty());
    CHECK(fit.model.labels == std::vector<int>(60, -1));
    std::vector<int> labels;
    std::vector<float> strengths;
    predictHdbscan(fit.model, data.samples.topRows(3).cast<float>(), labels, strengths);
    CHECK(labels == std::vector<int>(3, -1));
  }
  SECTION("duplicates: zero distances give infinite lambdas, no NaN") {
    Eigen::MatrixXd samples(12, 2);
    for (Eigen::Index i = 0; i < 12; ++i) {
      samples(i, 0) = i < 6 ? 0.0 : 10.0;
      samples(i, 1) = 1.0;
    }
    HdbscanOptions options;
    options.min_cluster_size = 3;
    const HdbscanFit fit = fitHdbscan(samples, options);
    CHECK(fit.sizes == std::vector<int64_t>{6, 6});
    for (size_t i = 0; i < 12; ++i) {
      CHECK(fit.model.labels[i] == fit.model.labels[i < 6 ? 0 : 6]);
      CHECK(fit.strengths[i] == 1.0);
    }
    CHECK(fit.model.labels[0] != fit.model.labels[6]);
    std::vector<int> labels;
    std::vector<float> strengths;
    predictHdbscan(fit.model, samples.cast<float>(), labels, strengths);
    CHECK(labels == fit.model.labels);
    CHECK(strengths == std::vector<float>(12, 1.0f));
  }
  SECTION("min_samples = 1: core distances are 0") {
    const Data data = makeData(kBlobs, 0, 2, 8);
    HdbscanOptions options;
    options.min_cluster_size = 20;
    options.min_samples = 1;
    const HdbscanFit fit = fitHdbscan(data.samples, options);
    CHECK(fit.model.core_distances.isZero(0));
    CHECK(adjustedRandIndex(data.truth, fit.model.labels) >= 0.8);
  }
}

TEST_CASE("hdbscan rejects invalid options and models naming the value", "[math][hdbscan]") {
  const Data data = makeData({{20, 1.0}}, 0, 2, 1);
  auto fitWith = [&](int minClusterSize, int minSamples) {
    HdbscanOptions options;
    options.min_cluster_size = minClusterSize;
    options.min_samples = minSamples;
    return fitHdbscan(data.samples, options);
  };
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(fitWith(1, 0), Contains("min_cluster_size = 1") && Contains("[2, 20]"));
  CHECK_THROWS_WITH(fitWith(21, 0), Contains("min_cluster_size = 21") && Contains("[2, 20]"));
  CHECK_THROWS_WITH(fitWith(5, -1), Contains("min_samples = -1") && Contains("[1, 20]"));
  CHECK_THROWS_WITH(fitWith(5, 21), Contains("min_samples = 21") && Contains("[1, 20]"));
  CHECK_THROWS_AS(fitWith(21, 0), std::invalid_argument);
  // min_samples 0 means min_cluster_size, which must then fit too.
  CHECK_NOTHROW(fitWith(20, 0));
  CHECK(fitWith(7, 0).model.min_samples == 7);

  Eigen::MatrixXd withNaN = data.samples;
  withNaN(3, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(fitHdbscan(withNaN, HdbscanOptions{}), Contains("NaN"));
  CHECK_THROWS_WITH(fitHdbscan(Eigen::MatrixXd(10, 0), HdbscanOptions{}), Contains("d = 0"));

  const HdbscanModel model = fitWith(5, 3).model;
  std::vector<int> labels;
  std::vector<float> strengths;
  CHECK_THROWS_WITH(predictHdbscan(model, Eigen::MatrixXf::Zero(4, 3), labels, strengths),
                    Contains("3 features") && Contains("has 2"));
  HdbscanModel broken = model;
  broken.labels[2] = 7;
  CHECK_THROWS_WITH(HdbscanPredictor(broken), Contains("label 7"));
  broken = model;
  broken.min_samples = 0;
  CHECK_THROWS_WITH(HdbscanPredictor(broken), Contains("min_samples = 0"));
  broken = model;
  broken.core_distances.resize(3);
  CHECK_THROWS_WITH(HdbscanPredictor(broken), Contains("core distances"));
  broken = model;
  broken.max_lambdas.push_back(1.0);
  CHECK_THROWS_WITH(HdbscanPredictor(broken), Contains("max lambdas"));
}

TEST_CASE("hdbscan finds twelve blobs in 192 dimensions and predicts cells near them",
          "[math][hdbscan]") {
  // The data of bench/math_bench.cpp's hdbscan workload (5000 samples there),
  // smaller: 100 samples per blob and 50 of background noise.
  const vitfeat::test::FeatureBlobs data = vitfeat::test::featureBlobs(1250, 1200, 192, 77);
  HdbscanOptions options;
  options.min_cluster_size = 25;
  const HdbscanFit fit = fitHdbscan(data.samples, options);
  const double ari = adjustedRandIndex(data.truth, fit.model.labels);
  const Eigen::MatrixXf cells = vitfeat::test::cellsNear(data.samples, 1200, 1024, 78);
  std::vector<int> labels;
  std::vector<float> strengths;
  HdbscanPredictor(fit.model).predict(cells, labels, strengths);
  int clustered = 0;
  for (const int label : labels) clustered += label >= 0;
  std::cout << "hdbscan 1250 x 192: ARI " << ari << ", " << fit.sizes.size() << " clusters, "
            << clustered << " of 1024 cells near blob samples clustered\n";
  CHECK(fit.sizes.size() == 12);
  CHECK(ari >= 0.9);
  CHECK(labels.size() == 1024);
  CHECK(clustered >= 1000);
}
