// UMAP: quality against umap-learn (trustworthiness, computed here as
// scikit-learn defines it and checked against scikit-learn), placement of new
// points among their class, determinism of the fit and of each cell's
// transform, the a/b curve fit, and option checking.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pixelfunctions/umap.h"
#include "tests/support/class_centres.h"
#include "tests/support/sklearn_check.h"

using vitfeat::math::findUmapAbParams;
using vitfeat::math::fitUmap;
using vitfeat::math::Metric;
using vitfeat::math::transformUmap;
using vitfeat::math::UmapModel;
using vitfeat::math::UmapOptions;

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::MatrixXf;

using vitfeat::test::ClassCentres;

double squaredDistance(const MatrixXd& m, Index i, Index j) {
  double total = 0;
  for (Index t = 0; t < m.cols(); ++t) total += (m(i, t) - m(j, t)) * (m(i, t) - m(j, t));
  return total;
}

// The k nearest other rows of row i, nearest first (ties: lower index).
std::vector<Index> nearestRows(const MatrixXd& m, Index i, int k) {
  std::vector<std::pair<double, Index>> all;
  for (Index j = 0; j < m.rows(); ++j) {
    if (j != i) all.emplace_back(squaredDistance(m, i, j), j);
  }
  std::partial_sort(all.begin(), all.begin() + k, all.end());
  std::vector<Index> out;
  for (int s = 0; s < k; ++s) out.push_back(all[static_cast<size_t>(s)].second);
  return out;
}

// scikit-learn's sklearn.manifold.trustworthiness (Euclidean):
// 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in kNN_embedded(i)} max(0, r(i, j) - k),
// r(i, j) the rank of j among i's neighbours in the input space (nearest = 1).
double trustworthiness(const MatrixXd& input, const MatrixXd& embedded, int k) {
  const Index n = input.rows();
  std::vector<int> rank(static_cast<size_t>(n));
  std::vector<std::pair<double, Index>> order;
  double total = 0;
  for (Index i = 0; i < n; ++i) {
    order.clear();
    for (Index j = 0; j < n; ++j) {
      if (j != i) order.emplace_back(squaredDistance(input, i, j), j);
    }
    std::sort(order.begin(), order.end());
    for (size_t r = 0; r < order.size(); ++r)
      rank[static_cast<size_t>(order[r].second)] = int(r) + 1;
    for (Index j : nearestRows(embedded, i, k)) {
      total += std::max(0, rank[static_cast<size_t>(j)] - k);
    }
  }
  const double nn = static_cast<double>(n);
  return 1.0 - total * (2.0 / (nn * k * (2.0 * nn - 3.0 * k - 1.0)));
}

// Share of `queries` (embedded) whose k nearest fitted points (embedded) vote,
// by majority (ties: the lower class), for the query's own class.
double knnAccuracy(const MatrixXd& fitted, const std::vector<int>& fittedLabels,
                   const MatrixXf& queries, const std::vector<int>& queryLabels, int k,
                   int classes) {
  int correct = 0;
  for (Index q = 0; q < queries.rows(); ++q) {
    std::vector<std::pair<double, Index>> all;
    for (Index j = 0; j < fitted.rows(); ++j) {
      all.emplace_back((fitted.row(j) - queries.row(q).cast<double>()).squaredNorm(), j);
    }
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    std::vector<int> votes(static_cast<size_t>(classes), 0);
    for (int s = 0; s < k; ++s) {
      ++votes[static_cast<size_t>(
          fittedLabels[static_cast<size_t>(all[static_cast<size_t>(s)].second)])];
    }
    const auto winner = std::max_element(votes.begin(), votes.end()) - votes.begin();
    if (winner == queryLabels[static_cast<size_t>(q)]) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(queries.rows());
}

MatrixXf transform(const UmapModel& model, const MatrixXf& cells) {
  MatrixXf out(cells.rows(), model.embedding.cols());
  transformUmap(model, cells, out);
  return out;
}

// Bit-for-bit equality of two float matrices, NaN equal to NaN.
bool sameBits(const MatrixXf& x, const MatrixXf& y) {
  return x.rows() == y.rows() && x.cols() == y.cols() &&
         std::memcmp(x.data(), y.data(), static_cast<size_t>(x.size()) * sizeof(float)) == 0;
}

std::string fingerprint(const UmapModel& model) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  const auto* bytes = reinterpret_cast<const unsigned char*>(model.embedding.data());
  for (size_t b = 0; b < static_cast<size_t>(model.embedding.size()) * sizeof(double); ++b) {
    hash = (hash ^ bytes[b]) * 0x100000001b3ULL;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

// A small fit shared by the determinism checks (and re-run in a child process).
UmapModel smallFit(uint64_t seed) {
  const ClassCentres classes(4, 16, 2.0, 5);
  std::vector<int> labels;
  const MatrixXd x = classes.draw(400, 6, labels);
  UmapOptions options;
  options.seed = seed;
  options.n_epochs = 200;
  return fitUmap(x, options);
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("UMAP a and b match umap-learn's find_ab_params", "[math][umap]") {
  // umap-learn 0.5.3 (scipy curve_fit) printed these.
  struct Case {
    double spread, minDist, a, b;
  };
  for (const Case& c : {Case{1.0, 0.1, 1.5769434604035877, 0.8950608780665811},
                        Case{1.0, 0.0, 1.9328083978536088, 0.7904949734413567},
                        Case{1.0, 0.5, 0.5830300205483709, 1.334166992455648},
                        Case{2.0, 0.25, 0.41627349656200685, 0.9218551325913715},
                        Case{1.0, 1.0, 0.11497568308423263, 1.9292371454400927}}) {
    const auto [a, b] = findUmapAbParams(c.spread, c.minDist);
    INFO("spread " << c.spread << " min_dist " << c.minDist << ": a " << a << " b " << b);
    // curve_fit stops at MINPACK's 1.5e-8 tolerance on a flat valley; with
    // min_dist = spread our a is 3e-6 away, at a (slightly) lower residual.
    const double tolerance = c.minDist == c.spread ? 1e-5 : 1e-6;
    CHECK(a == Approx(c.a).epsilon(tolerance));
    CHECK(b == Approx(c.b).epsilon(tolerance));
  }
}

TEST_CASE("UMAP trustworthiness is at least umap-learn's", "[math][umap][sklearn]") {
  const std::string missing = vitfeat::test::sklearnMissing();
  if (!missing.empty()) {
    WARN("SKIPPED: UMAP vs umap-learn: " << missing);
    return;
  }
  const ClassCentres classes(6, 48, 2.0, 11);
  std::vector<int> labels;
  const MatrixXd x = classes.draw(1500, 12, labels);
  const int n = static_cast<int>(x.rows());
  UmapOptions options;  // n_neighbors 15, min_dist 0.1, 3 components, Euclidean
  options.seed = 7;
  constexpr int kTrustNeighbours = 10;

  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  vitfeat::test::TempFolder folder;
  const auto& dir = folder.path();
  const RowMajorD samples = x;
  vitfeat::test::writeRaw(dir / "samples.f64", samples.data(), static_cast<size_t>(samples.size()));
  std::ostringstream meta;
  meta.precision(17);
  meta << n << ' ' << x.cols() << ' ' << options.n_neighbors << ' ' << options.n_components << ' '
       << options.min_dist << ' ' << options.spread << " euclidean 42 " << kTrustNeighbours << '\n';
  vitfeat::test::writeText(dir / "meta.txt", meta.str());
  // umap-learn spends ~20 s compiling with numba whatever the size: run it
  // while this process fits its own embedding.
  auto reference =
      std::async(std::launch::async, [&] { return vitfeat::test::runSklearnCheck("umap", dir); });

  const auto start = std::chrono::steady_clock::now();
  const UmapModel model = fitUmap(x, options);
  const double fitSeconds = secondsSince(start);
  const double ours = trustworthiness(x, model.embedding, kTrustNeighbours);

  const auto result = reference.get();
  std::cout << result.output;
  INFO(result.output);
  REQUIRE(result.status == 0);
  std::ifstream in(dir / "reference.txt");
  std::string source;
  double sklearnTrust = 0, a = 0, b = 0;
  in >> source >> sklearnTrust >> a >> b;
  REQUIRE(in);
  MatrixXd referenceEmbedding(n, options.n_components);
  {
    RowMajorD raw(n, options.n_components);
    std::ifstream file(dir / "reference_embedding.f64", std::ios::binary);
    file.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size() * 8));
    REQUIRE(file);
    referenceEmbedding = raw;
  }
  // This file's trustworthiness is scikit-learn's, on the reference embedding.
  const double theirs = trustworthiness(x, referenceEmbedding, kTrustNeighbours);
  CHECK(theirs == Approx(sklearnTrust).epsilon(1e-12));
  // And the fit used umap-learn's curve.
  CHECK(model.a == Approx(a).epsilon(1e-6));
  CHECK(model.b == Approx(b).epsilon(1e-6));

  std::cout << "UMAP n=" << n << " d=48 fit " << fitSeconds << " s: trustworthiness("
            << kTrustNeighbours << ") vitfeat " << ours << ", " << source << " " << theirs << "\n";
  if (source != "umap-learn") {
    WARN(
        "SKIPPED: umap-learn is not importable by /usr/bin/python3 (apt-get install "
        "umap-learn): trustworthiness checked against scikit-learn only");
    return;
  }
  CHECK(ours >= theirs - 0.02);
}

TEST_CASE("UMAP places new points among their class", "[math][umap]") {
  constexpr int kClasses = 6;
  const ClassCentres classes(kClasses, 48, 2.0, 21);
  std::vector<int> trainLabels, newLabels;
  const MatrixXd train = classes.draw(1200, 22, trainLabels);
  const MatrixXf fresh = classes.draw(600, 23, newLabels).cast<float>();
  UmapOptions options;
  options.seed = 3;
  const UmapModel model = fitUmap(train, options);
  CHECK(model.epochs == 500);
  CHECK(model.transform_epochs == 100);  // umap-learn's for n_epochs unset
  REQUIRE(model.embedding.allFinite());
  const MatrixXf placed = transform(model, fresh);
  REQUIRE(placed.allFinite());
  for (int k : {5, 7, 10}) {
    const double accuracy =
        knnAccuracy(model.embedding, trainLabels, placed, newLabels, k, kClasses);
    std::cout << "UMAP transform: " << k << "-NN accuracy of new points " << accuracy << "\n";
    CHECK(accuracy >= 0.95);
  }
  // A fitted point transformed again stays in its own class too.
  const MatrixXf again = transform(model, train.topRows(200).cast<float>());
  const std::vector<int> againLabels(trainLabels.begin(), trainLabels.begin() + 200);
  CHECK(knnAccuracy(model.embedding, trainLabels, again, againLabels, 7, kClasses) >= 0.95);
}

TEST_CASE("UMAP with the cosine metric separates classes of directions", "[math][umap]") {
  // Classes differ by direction only: each point is scaled by a random factor
  // in [0.5, 5], which the cosine metric must ignore.
  constexpr int kClasses = 4;
  const ClassCentres classes(kClasses, 32, 2.0, 31);
  std::vector<int> trainLabels, newLabels;
  MatrixXd train = classes.draw(600, 32, trainLabels);
  MatrixXd fresh = classes.draw(200, 33, newLabels);
  std::mt19937_64 engine(34);
  for (MatrixXd* m : {&train, &fresh}) {
    for (Index i = 0; i < m->rows(); ++i) {
      m->row(i) *= 0.5 + 4.5 * static_cast<double>(engine() >> 11) * 0x1.0p-53;
      m->row(i) = m->row(i).cast<float>().cast<double>();
    }
  }
  UmapOptions options;
  options.metric = Metric::Cosine;
  options.n_components = 2;
  options.n_epochs = 200;
  const UmapModel model = fitUmap(train, options);
  CHECK(model.transform_epochs == 66);  // umap-learn: n_epochs / 3 when n_epochs is set
  const MatrixXf placed = transform(model, fresh.cast<float>());
  CHECK(knnAccuracy(model.embedding, trainLabels, placed, newLabels, 7, kClasses) >= 0.95);
}

TEST_CASE("UMAP unrolls a connected manifold", "[math][umap]") {
  // One connected component larger than the dense eigensolver's limit (300),
  // so the spectral initialisation runs the subspace iteration: a noisy
  // circle in 10 dimensions must come out as a loop with its neighbourhoods.
  constexpr int kPoints = 800;
  std::mt19937_64 engine(71);
  auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-53; };
  MatrixXd x(kPoints, 10);
  for (int i = 0; i < kPoints; ++i) {
    const double angle = 2 * M_PI * uniform();
    x(i, 0) = 10 * std::cos(angle);
    x(i, 1) = 10 * std::sin(angle);
    for (int j = 2; j < 10; ++j) x(i, j) = 0.3 * (uniform() - 0.5);
    x.row(i) = x.row(i).cast<float>().cast<double>();
  }
  UmapOptions options;
  options.n_components = 2;
  options.n_epochs = 200;
  const UmapModel model = fitUmap(x, options);
  REQUIRE(model.embedding.allFinite());
  const double trust = trustworthiness(x, model.embedding, 10);
  std::cout << "UMAP circle n=" << kPoints << ": trustworthiness(10) " << trust << "\n";
  CHECK(trust > 0.95);
}

TEST_CASE("UMAP fit is bit-identical for a seed", "[math][umap]") {
  const UmapModel a = smallFit(1);
  const UmapModel b = smallFit(1);
  CHECK(a.embedding == b.embedding);  // bit for bit
  CHECK(a.a == b.a);
  CHECK(a.b == b.b);
  CHECK(smallFit(2).embedding != a.embedding);
}

TEST_CASE("UMAP fit is the same in another process", "[math][umap]") {
  const std::string expected = fingerprint(smallFit(1));
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const auto result = vitfeat::test::runCommand("'" + self + "' '[umap-fingerprint]'");
  INFO(result.output);
  CHECK(result.output.find("fingerprint " + expected) != std::string::npos);
}

TEST_CASE("UMAP fingerprint", "[.][umap-fingerprint]") {
  std::cout << "fingerprint " << fingerprint(smallFit(1)) << std::endl;
}

TEST_CASE("UMAP transform of a cell does not depend on the other cells", "[math][umap]") {
  const UmapModel model = smallFit(1);
  const ClassCentres classes(4, 16, 2.0, 5);
  std::vector<int> labels;
  MatrixXf cells = classes.draw(300, 40, labels).cast<float>();
  cells(17, 3) = std::numeric_limits<float>::quiet_NaN();
  cells.row(40) = cells.row(41);  // a duplicate: the same result
  const MatrixXf batch = transform(model, cells);
  CHECK(batch.row(17).array().isNaN().all());
  CHECK(sameBits(batch.row(40), batch.row(41)));
  CHECK(batch.topRows(17).allFinite());
  CHECK(batch.bottomRows(300 - 18).allFinite());

  // Alone, one by one.
  for (Index i : {Index{0}, Index{17}, Index{40}, Index{123}, Index{299}}) {
    INFO("cell " << i);
    CHECK(sameBits(transform(model, cells.row(i)), batch.row(i)));
  }
  // Reversed, in a smaller batch of other cells, and in a batch larger than
  // the internal block (1024 cells).
  const MatrixXf reversed = cells.colwise().reverse();
  CHECK(sameBits(transform(model, reversed).colwise().reverse(), batch));
  CHECK(sameBits(transform(model, cells.middleRows(100, 50)), batch.middleRows(100, 50)));
  MatrixXf many(1500, cells.cols());
  for (Index i = 0; i < many.rows(); ++i) many.row(i) = cells.row((i * 7) % cells.rows());
  const MatrixXf manyOut = transform(model, many);
  bool same = true;
  for (Index i = 0; i < many.rows(); ++i)
    same &= sameBits(manyOut.row(i), batch.row((i * 7) % 300));
  CHECK(same);
}

TEST_CASE("UMAP model reloaded from text transforms the same", "[math][umap]") {
  // The model as a caller would write it to JSON (17 significant digits) and
  // read it back: every field is a plain value.
  const UmapModel model = smallFit(1);
  auto roundTripValue = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return std::strtod(text, nullptr);
  };
  auto roundTrip = [&](const MatrixXd& m) {
    MatrixXd out(m.rows(), m.cols());
    for (Index i = 0; i < m.size(); ++i) out.data()[i] = roundTripValue(m.data()[i]);
    return out;
  };
  UmapModel reloaded;
  reloaded.points = roundTrip(model.points);
  reloaded.embedding = roundTrip(model.embedding);
  reloaded.a = roundTripValue(model.a);
  reloaded.b = roundTripValue(model.b);
  reloaded.n_neighbors = model.n_neighbors;
  reloaded.metric = model.metric;
  reloaded.epochs = model.epochs;
  reloaded.transform_epochs = model.transform_epochs;
  reloaded.seed = model.seed;
  const ClassCentres classes(4, 16, 2.0, 5);
  std::vector<int> labels;
  const MatrixXf cells = classes.draw(50, 41, labels).cast<float>();
  CHECK(sameBits(transform(reloaded, cells), transform(model, cells)));
  // The seed is part of the transform: another seed, other negative samples.
  reloaded.seed = model.seed + 1;
  CHECK(!sameBits(transform(reloaded, cells), transform(model, cells)));
}

TEST_CASE("UMAP copes with duplicated samples", "[math][umap]") {
  // Rasters have runs of identical cells (nodata filled with 0, flat areas):
  // many zero distances, rho = 0 and memberships of 1 must not break the fit
  // or the transform.
  const ClassCentres classes(3, 12, 2.0, 61);
  std::vector<int> labels;
  MatrixXd x = classes.draw(300, 62, labels);
  x.topRows(60).setZero();
  x.middleRows(60, 20).rowwise() = x.row(100);
  UmapOptions options;
  options.n_epochs = 100;
  const UmapModel model = fitUmap(x, options);
  REQUIRE(model.embedding.allFinite());
  MatrixXf cells(3, 12);
  cells.row(0).setZero();
  cells.row(1) = x.row(100).cast<float>();
  cells.row(2) = x.row(200).cast<float>();
  const MatrixXf placed = transform(model, cells);
  CHECK(placed.allFinite());
  // The zero cells were fitted together: the zero cell lands among them.
  double nearest = std::numeric_limits<double>::infinity();
  for (Index i = 0; i < 60; ++i) {
    nearest = std::min(nearest, (model.embedding.row(i) - placed.row(0).cast<double>()).norm());
  }
  CHECK(nearest < 1.0);
}

TEST_CASE("UMAP rejects invalid options naming the value", "[math][umap]") {
  const ClassCentres classes(2, 4, 2.0, 1);
  std::vector<int> labels;
  const MatrixXd x = classes.draw(20, 2, labels);
  auto fitWith = [&](auto change) {
    UmapOptions options;
    options.n_epochs = 5;
    change(options);
    return fitUmap(x, options);
  };
  using Catch::Contains;
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.n_neighbors = 1; }),
                    Contains("n_neighbors = 1") && Contains("[2, 19]"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.n_neighbors = 20; }),
                    Contains("n_neighbors = 20") && Contains("[2, 19]"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.n_components = 0; }),
                    Contains("n_components = 0") && Contains("[1, 19]"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.n_components = 20; }),
                    Contains("n_components = 20"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.min_dist = -0.5; }),
                    Contains("min_dist = -0.5") && Contains("[0, 1]"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.min_dist = 1.5; }),
                    Contains("min_dist = 1.5") && Contains("[0, 1]"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.spread = 0; }), Contains("spread = 0"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.n_epochs = -1; }), Contains("n_epochs = -1"));
  CHECK_THROWS_WITH(fitWith([](UmapOptions& o) { o.transform_epochs = -2; }),
                    Contains("transform_epochs = -2"));
  MatrixXd withNan = x;
  withNan(3, 1) = std::nan("");
  CHECK_THROWS_WITH(fitUmap(withNan, UmapOptions{}), Contains("NaN"));
  CHECK_THROWS_WITH(fitUmap(x.topRows(2), UmapOptions{}), Contains("2 samples"));

  // Transform: shapes and an inconsistent model.
  const UmapModel model = fitWith([](UmapOptions& o) { o.n_neighbors = 5; });
  MatrixXf out(3, 3);
  CHECK_THROWS_WITH(transformUmap(model, MatrixXf::Zero(3, 5), out), Contains("5 features"));
  MatrixXf wrong(3, 2);
  CHECK_THROWS_WITH(transformUmap(model, MatrixXf::Zero(3, 4), wrong), Contains("3 x 2"));
  UmapModel broken = model;
  broken.n_neighbors = 21;
  CHECK_THROWS_WITH(transformUmap(broken, MatrixXf::Zero(3, 4), out), Contains("n_neighbors = 21"));
  broken = model;
  broken.embedding = model.embedding.topRows(10);
  CHECK_THROWS_AS(transformUmap(broken, MatrixXf::Zero(3, 4), out), std::invalid_argument);
}
