// k-means against synthetic clusters of known membership, hand recomputations
// of inertia and sizes, and scikit-learn's KMeans (tests/python/check_sklearn.py).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

#include "pixelfunctions/kmeans.h"
#include "tests/support/sklearn_check.h"

using vitfeat::math::fitKMeans;
using vitfeat::math::KMeansFit;
using vitfeat::math::KMeansOptions;
using vitfeat::math::nearestCentroid;

namespace {

struct Blobs {
  Eigen::MatrixXd samples;  // n x d, float-representable values
  std::vector<int> truth;   // cluster of each sample; cluster c has sizes[c] samples
};

// Gaussian blobs (unit noise) around centres drawn with `spread` per feature,
// samples shuffled so that clusters are interleaved. std::mt19937_64 is fully
// specified; normals and the shuffle are done here, not by the library.
Blobs makeBlobs(const std::vector<int>& sizes, int d, double spread, uint64_t seed) {
  std::mt19937_64 engine(seed);
  auto uniform = [&] { return (static_cast<double>(engine() >> 11) + 0.5) * 0x1.0p-53; };
  auto normal = [&] {
    return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform());
  };
  const int k = static_cast<int>(sizes.size());
  Eigen::MatrixXd centres(k, d);
  for (int c = 0; c < k; ++c) {
    for (int j = 0; j < d; ++j) centres(c, j) = spread * normal();
  }
  std::vector<int> truth;
  for (int c = 0; c < k; ++c) truth.insert(truth.end(), static_cast<size_t>(sizes[c]), c);
  for (size_t i = truth.size(); i > 1; --i) {
    std::swap(truth[i - 1], truth[static_cast<size_t>(engine() % i)]);
  }
  Blobs blobs;
  blobs.samples.resize(static_cast<Eigen::Index>(truth.size()), d);
  for (size_t i = 0; i < truth.size(); ++i) {
    for (int j = 0; j < d; ++j) {
      blobs.samples(static_cast<Eigen::Index>(i), j) =
          static_cast<float>(centres(truth[i], j) + normal());
    }
  }
  blobs.truth = std::move(truth);
  return blobs;
}

// Nearest centroid by explicit loops over the differences: the reference the
// fitted sizes and inertia are checked against.
std::vector<int> bruteForceLabels(const Eigen::MatrixXd& samples, const Eigen::MatrixXd& centroids,
                                  double* inertia) {
  std::vector<int> labels(static_cast<size_t>(samples.rows()));
  double total = 0;
  for (Eigen::Index i = 0; i < samples.rows(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (Eigen::Index c = 0; c < centroids.rows(); ++c) {
      double distance = 0;
      for (Eigen::Index j = 0; j < samples.cols(); ++j) {
        const double diff = samples(i, j) - centroids(c, j);
        distance += diff * diff;
      }
      if (distance < best) {
        best = distance;
        labels[static_cast<size_t>(i)] = static_cast<int>(c);
      }
    }
    total += best;
  }
  if (inertia) *inertia = total;
  return labels;
}

// FNV-1a over the bytes of the centroids and the labels of the samples.
std::string fingerprint(const KMeansFit& fit, const std::vector<int>& labels) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&](const void* data, size_t bytes) {
    for (size_t b = 0; b < bytes; ++b) {
      hash = (hash ^ static_cast<const unsigned char*>(data)[b]) * 0x100000001b3ULL;
    }
  };
  mix(fit.centroids.data(), static_cast<size_t>(fit.centroids.size()) * sizeof(double));
  mix(labels.data(), labels.size() * sizeof(int));
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

const std::vector<int> kSeparatedSizes{400, 320, 250, 180, 120};

Blobs separatedBlobs() { return makeBlobs(kSeparatedSizes, 48, 8.0, 2024); }

std::string separatedFingerprint() {
  const Blobs blobs = separatedBlobs();
  KMeansOptions options;
  options.clusters = 5;
  options.seed = 99;
  const KMeansFit fit = fitKMeans(blobs.samples, options);
  std::vector<int> labels;
  nearestCentroid(fit.centroids, blobs.samples.cast<float>(), labels);
  return fingerprint(fit, labels);
}

}  // namespace

TEST_CASE("k-means recovers well separated clusters labelled by size", "[math][kmeans]") {
  // Distinct sizes, so "labels by size, largest first" fixes the permutation:
  // the fitted label of every sample must equal its true cluster exactly.
  const Blobs blobs = separatedBlobs();
  for (uint64_t seed : {0, 1, 12345}) {
    KMeansOptions options;
    options.clusters = 5;
    options.seed = seed;
    const KMeansFit fit = fitKMeans(blobs.samples, options);
    CHECK(fit.sizes == std::vector<int64_t>(kSeparatedSizes.begin(), kSeparatedSizes.end()));
    std::vector<int> labels;
    nearestCentroid(fit.centroids, blobs.samples.cast<float>(), labels);
    CHECK(labels == blobs.truth);
    CHECK(fit.iterations >= 1);
    CHECK(fit.iterations <= options.max_iter);
  }
}

TEST_CASE("k-means sizes and inertia match a hand recomputation", "[math][kmeans]") {
  // Overlapping clusters, so that the assignment is not trivial.
  const Blobs blobs = makeBlobs({300, 300, 250, 200, 150, 100}, 32, 1.2, 7);
  KMeansOptions options;
  options.clusters = 6;
  options.seed = 3;
  const KMeansFit fit = fitKMeans(blobs.samples, options);
  double inertia = 0;
  const std::vector<int> labels = bruteForceLabels(blobs.samples, fit.centroids, &inertia);
  std::vector<int64_t> sizes(6, 0);
  for (int label : labels) ++sizes[static_cast<size_t>(label)];
  CHECK(fit.sizes == sizes);
  CHECK(fit.inertia == Approx(inertia).epsilon(1e-12));
  for (size_t l = 1; l < sizes.size(); ++l) CHECK(fit.sizes[l] <= fit.sizes[l - 1]);
  // Each centroid is the mean of its samples (Lloyd's fixed point, within tol).
  for (int c = 0; c < 6; ++c) {
    Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(32);
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] == c) sum += blobs.samples.row(static_cast<Eigen::Index>(i));
    }
    const Eigen::RowVectorXd mean = sum / static_cast<double>(sizes[static_cast<size_t>(c)]);
    CHECK((mean - fit.centroids.row(c)).norm() < 0.05);
  }
}

TEST_CASE("k-means with tol 0 ends at a Lloyd fixed point", "[math][kmeans]") {
  // Lloyd skips samples whose distance bounds prove their label cannot change
  // (per-centre bounds up to 32 clusters, one bound beyond). Run to stable
  // labels, a wrongly skipped sample would show: every sample must be nearest
  // (brute force) to its own centroid, and each centroid the mean of its samples.
  const Blobs blobs = makeBlobs({900, 700, 600, 500, 400, 300, 200, 100}, 24, 0.8, 17);
  for (int k : {6, 40}) {
    KMeansOptions options;
    options.clusters = k;
    options.tol = 0;
    options.max_iter = 1000;
    options.n_init = 2;
    const KMeansFit fit = fitKMeans(blobs.samples, options);
    INFO("k = " << k << ", iterations " << fit.iterations);
    REQUIRE(fit.iterations < 1000);
    double inertia = 0;
    const std::vector<int> labels = bruteForceLabels(blobs.samples, fit.centroids, &inertia);
    std::vector<int64_t> sizes(static_cast<size_t>(k), 0);
    Eigen::MatrixXd sums = Eigen::MatrixXd::Zero(k, 24);
    for (size_t i = 0; i < labels.size(); ++i) {
      ++sizes[static_cast<size_t>(labels[i])];
      sums.row(labels[i]) += blobs.samples.row(static_cast<Eigen::Index>(i));
    }
    CHECK(fit.sizes == sizes);
    CHECK(fit.inertia == Approx(inertia).epsilon(1e-12));
    for (int c = 0; c < k; ++c) {
      const Eigen::RowVectorXd mean =
          sums.row(c) / static_cast<double>(sizes[static_cast<size_t>(c)]);
      REQUIRE((mean - fit.centroids.row(c)).cwiseAbs().maxCoeff() < 1e-9);
    }
  }
}

TEST_CASE("k-means is deterministic for a seed", "[math][kmeans]") {
  const Blobs blobs = makeBlobs({500, 400, 300, 200}, 40, 1.0, 11);
  KMeansOptions options;
  options.clusters = 7;  // more clusters than blobs: the seeding matters
  options.seed = 42;
  const KMeansFit a = fitKMeans(blobs.samples, options);
  const KMeansFit b = fitKMeans(blobs.samples, options);
  CHECK(a.centroids == b.centroids);  // bit for bit
  CHECK(a.sizes == b.sizes);
  CHECK(a.inertia == b.inertia);
  CHECK(a.iterations == b.iterations);
  std::vector<int> la;
  std::vector<int> lb;
  nearestCentroid(a.centroids, blobs.samples.cast<float>(), la);
  nearestCentroid(b.centroids, blobs.samples.cast<float>(), lb);
  CHECK(la == lb);
  // A different seed is a different set of runs (here: different centroids).
  options.seed = 43;
  CHECK(fitKMeans(blobs.samples, options).centroids != a.centroids);
}

TEST_CASE("k-means gives the same fit in another process", "[math][kmeans]") {
  // This executable run again, printing its fingerprint of the fit (hidden
  // test case below): same centroids bit for bit and same labels.
  const std::string expected = separatedFingerprint();
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (int run = 0; run < 2; ++run) {
    const auto result = vitfeat::test::runCommand("'" + self + "' '[kmeans-fingerprint]'");
    INFO(result.output);
    CHECK(result.output.find("fingerprint " + expected) != std::string::npos);
  }
}

TEST_CASE("k-means fingerprint", "[.][kmeans-fingerprint]") {
  std::cout << "fingerprint " << separatedFingerprint() << std::endl;
}

TEST_CASE("k-means edge cases", "[math][kmeans]") {
  SECTION("one cluster is the mean") {
    const Blobs blobs = makeBlobs({50, 30}, 6, 3.0, 5);
    KMeansOptions options;
    options.clusters = 1;
    const KMeansFit fit = fitKMeans(blobs.samples, options);
    const Eigen::RowVectorXd mean = blobs.samples.colwise().mean();
    CHECK((fit.centroids.row(0) - mean).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(fit.sizes == std::vector<int64_t>{80});
    CHECK(fit.inertia == Approx((blobs.samples.rowwise() - mean).squaredNorm()).epsilon(1e-12));
  }
  SECTION("fewer distinct samples than clusters leave no NaN") {
    // Three distinct points, four clusters: one centre must stay a duplicate
    // or be relocated; the fit must still be finite and account for every sample.
    Eigen::MatrixXd samples(30, 2);
    for (int i = 0; i < 30; ++i) samples.row(i) << i % 3, 2 * (i % 3);
    KMeansOptions options;
    options.clusters = 4;
    const KMeansFit fit = fitKMeans(samples, options);
    CHECK(fit.centroids.allFinite());
    int64_t total = 0;
    for (int64_t s : fit.sizes) total += s;
    CHECK(total == 30);
    CHECK(fit.inertia == Approx(0.0).margin(1e-12));
  }
  SECTION("as many clusters as samples") {
    const Blobs blobs = makeBlobs({4, 3}, 5, 2.0, 8);
    KMeansOptions options;
    options.clusters = 7;
    const KMeansFit fit = fitKMeans(blobs.samples, options);
    CHECK(fit.inertia == Approx(0.0).margin(1e-9));
    CHECK(fit.sizes == std::vector<int64_t>(7, 1));
  }
}

TEST_CASE("k-means rejects invalid options naming the value", "[math][kmeans]") {
  const Blobs blobs = makeBlobs({5, 5}, 4, 3.0, 1);
  KMeansOptions options;
  options.clusters = 11;
  CHECK_THROWS_WITH(fitKMeans(blobs.samples, options),
                    Catch::Contains("clusters = 11") && Catch::Contains("[1, 10]"));
  options.clusters = 0;
  CHECK_THROWS_WITH(fitKMeans(blobs.samples, options), Catch::Contains("clusters = 0"));
  options.clusters = 2;
  options.n_init = 0;
  CHECK_THROWS_WITH(fitKMeans(blobs.samples, options), Catch::Contains("n_init = 0"));
  options.n_init = 1;
  options.max_iter = 0;
  CHECK_THROWS_WITH(fitKMeans(blobs.samples, options), Catch::Contains("max_iter = 0"));
  options.max_iter = 10;
  options.tol = -1;
  CHECK_THROWS_WITH(fitKMeans(blobs.samples, options), Catch::Contains("tol = -1"));
  options.tol = 1e-4;
  Eigen::MatrixXd withNan = blobs.samples;
  withNan(2, 1) = std::nan("");
  CHECK_THROWS_WITH(fitKMeans(withNan, options), Catch::Contains("NaN"));
}

TEST_CASE("nearestCentroid gives ties to the lower label and NaN to -1", "[math][kmeans]") {
  Eigen::MatrixXd centroids(3, 2);
  centroids << 1, 0,  //
      -1, 0,          //
      0, 10;
  Eigen::MatrixXf cells(5, 2);
  cells << 0, 1,         // equidistant from 0 and 1: 0
      -0.9f, 0,          // 1
      0, 9,              // 2
      std::nanf(""), 0,  // -1
      0, 5.5f;           // nearer 2 (distance 4.5) than 0 or 1 (sqrt(31.25))
  std::vector<int> labels;
  nearestCentroid(centroids, cells, labels);
  CHECK(labels == std::vector<int>{0, 1, 2, -1, 2});
  CHECK_THROWS_AS(nearestCentroid(centroids, Eigen::MatrixXf::Zero(2, 3), labels),
                  std::invalid_argument);
}

TEST_CASE("nearestCentroid equals brute force over many cells", "[math][kmeans]") {
  // More cells than one internal block (4096).
  const Blobs blobs = makeBlobs({6000, 3000}, 24, 0.5, 31);
  const Blobs centres = makeBlobs({5, 4}, 24, 0.5, 32);
  std::vector<int> labels;
  nearestCentroid(centres.samples, blobs.samples.cast<float>(), labels);
  CHECK(labels == bruteForceLabels(blobs.samples, centres.samples, nullptr));
}

TEST_CASE("k-means inertia is close to scikit-learn's", "[math][kmeans][sklearn]") {
  const std::string missing = vitfeat::test::sklearnMissing();
  if (!missing.empty()) {
    WARN("SKIPPED: k-means vs scikit-learn: " << missing);
    return;
  }
  // Overlapping clusters: local optima exist, so the two implementations need
  // not agree exactly; the best of 4 runs should be within a few percent.
  const Blobs blobs = makeBlobs({700, 600, 500, 500, 400, 300}, 32, 0.6, 5);
  const int n = static_cast<int>(blobs.samples.rows());
  KMeansOptions options;
  options.clusters = 6;
  options.n_init = 4;
  const KMeansFit fit = fitKMeans(blobs.samples, options);

  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajorD samples = blobs.samples;
  const RowMajorD centroids = fit.centroids;
  vitfeat::test::TempFolder folder;
  const auto& dir = folder.path();
  vitfeat::test::writeText(dir / "meta.txt", std::to_string(n) + " 32 6 4\n");
  vitfeat::test::writeRaw(dir / "samples.f64", samples.data(), samples.size());
  vitfeat::test::writeRaw(dir / "centroids.f64", centroids.data(), centroids.size());
  vitfeat::test::writeRaw(dir / "inertia.f64", &fit.inertia, 1);
  const auto result = vitfeat::test::runSklearnCheck("kmeans", dir);
  std::cout << result.output;
  INFO(result.output);
  CHECK(result.status == 0);
}
