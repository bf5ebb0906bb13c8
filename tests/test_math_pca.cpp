// PCA against independent computations: an SVD of the centred samples in the
// test (Eigen::BDCSVD) and scikit-learn (tests/python/check_sklearn.py).
#include <catch2/catch.hpp>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>

#include "pixelfunctions/pca.h"
#include "tests/support/sklearn_check.h"

using vitfeat::math::fitPca;
using vitfeat::math::PcaFit;
using vitfeat::math::projectCentred;
using vitfeat::math::projectionDirection;
using vitfeat::math::projectionOffset;
using vitfeat::math::projectPca;

namespace {

// Feature-like cells: per-band means around 6, a few latent factors of clearly
// different strength (so the leading components are well defined), isotropic
// noise. Float values, as features are, so the float cells and the double
// samples are exactly the same numbers. std::mt19937_64 is specified by the
// standard; the normal draws are done here (Box-Muller), not by the library.
Eigen::MatrixXf makeFeatures(int n, int d, uint64_t seed) {
  std::mt19937_64 engine(seed);
  auto uniform = [&] { return (static_cast<double>(engine() >> 11) + 0.5) * 0x1.0p-53; };
  auto normal = [&] {
    return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform());
  };
  const int factors = 8;
  const double strength[factors] = {6, 5, 4, 3.2, 2.5, 2, 1.6, 1.3};
  Eigen::MatrixXd loadings(factors, d);
  for (int f = 0; f < factors; ++f) {
    for (int j = 0; j < d; ++j) loadings(f, j) = normal();
    loadings.row(f).normalize();
  }
  Eigen::VectorXd means(d);
  for (int j = 0; j < d; ++j) means(j) = 6 + normal();
  Eigen::MatrixXf cells(n, d);
  for (int i = 0; i < n; ++i) {
    Eigen::RowVectorXd row = means.transpose();
    for (int f = 0; f < factors; ++f) row += strength[f] * normal() * loadings.row(f);
    for (int j = 0; j < d; ++j) row(j) += 0.3 * normal();
    cells.row(i) = row.cast<float>();
  }
  return cells;
}

struct SvdReference {
  Eigen::VectorXd mean;
  Eigen::MatrixXd components;  // k x d, sign as the SVD gives it
  Eigen::VectorXd variance;
  Eigen::VectorXd ratio;
  Eigen::MatrixXd projections;  // n x k
};

SvdReference svdReference(const Eigen::MatrixXd& samples, int k) {
  SvdReference r;
  const double n = static_cast<double>(samples.rows());
  r.mean = samples.colwise().mean().transpose();
  const Eigen::MatrixXd centred = samples.rowwise() - r.mean.transpose();
  Eigen::BDCSVD<Eigen::MatrixXd> svd(centred, Eigen::ComputeThinV);
  const Eigen::VectorXd all = svd.singularValues().array().square() / (n - 1);
  r.components = svd.matrixV().leftCols(k).transpose();
  r.variance = all.head(k);
  r.ratio = r.variance / all.sum();
  r.projections = centred * r.components.transpose();
  return r;
}

// +1 or -1 per component so that `ours` and `theirs` point the same way.
Eigen::VectorXd alignSigns(const Eigen::MatrixXd& ours, const Eigen::MatrixXd& theirs) {
  Eigen::VectorXd signs(ours.rows());
  for (Eigen::Index c = 0; c < ours.rows(); ++c) {
    signs(c) = ours.row(c).dot(theirs.row(c)) < 0 ? -1 : 1;
  }
  return signs;
}

void checkAgainstSvd(int n, int d, int k) {
  const Eigen::MatrixXf cells = makeFeatures(n, d, 1000 + static_cast<uint64_t>(d));
  const Eigen::MatrixXd samples = cells.cast<double>();
  const PcaFit fit = fitPca(samples, k, false);
  const SvdReference ref = svdReference(samples, k);
  const Eigen::VectorXd signs = alignSigns(fit.components, ref.components);
  const Eigen::MatrixXd aligned = signs.asDiagonal() * ref.components;

  Eigen::MatrixXf projected(n, k);
  projectPca(fit, cells, projected);
  const Eigen::MatrixXd refProjected = ref.projections * signs.asDiagonal();

  const double meanDiff = (fit.mean - ref.mean).cwiseAbs().maxCoeff();
  const double componentDiff = (fit.components - aligned).cwiseAbs().maxCoeff();
  const double varianceRel =
      ((fit.explainedVariance - ref.variance).array() / ref.variance.array()).abs().maxCoeff();
  const double ratioRel =
      ((fit.explainedVarianceRatio - ref.ratio).array() / ref.ratio.array()).abs().maxCoeff();
  const double projectionDiff = (projected.cast<double>() - refProjected).cwiseAbs().maxCoeff();
  std::cout << "PCA vs BDCSVD n=" << n << " d=" << d << " k=" << k << ": mean " << meanDiff
            << ", components " << componentDiff << ", variance rel " << varianceRel
            << ", ratio rel " << ratioRel << ", projections " << projectionDiff << "\n";
  CHECK(meanDiff < 1e-12);
  CHECK(componentDiff < 1e-8);
  CHECK(varianceRel < 1e-9);
  CHECK(ratioRel < 1e-5);
  CHECK(projectionDiff < 1e-4);

  // Descending variance, unit orthogonal components.
  for (int c = 1; c < k; ++c) CHECK(fit.explainedVariance(c) < fit.explainedVariance(c - 1));
  const Eigen::MatrixXd gram = fit.components * fit.components.transpose();
  CHECK((gram - Eigen::MatrixXd::Identity(k, k)).cwiseAbs().maxCoeff() < 1e-12);
}

}  // namespace

TEST_CASE("PCA equals an SVD of the centred samples", "[math][pca]") {
  SECTION("d = 64") { checkAgainstSvd(500, 64, 5); }
  SECTION("d = 384") { checkAgainstSvd(1200, 384, 8); }
  SECTION("d = 1024") { checkAgainstSvd(1100, 1024, 6); }
}

TEST_CASE("PCA components follow the sign rule", "[math][pca]") {
  const Eigen::MatrixXd samples = makeFeatures(300, 48, 5).cast<double>();
  const PcaFit fit = fitPca(samples, 10, false);
  for (int c = 0; c < 10; ++c) {
    Eigen::Index largest = 0;
    fit.components.row(c).cwiseAbs().maxCoeff(&largest);
    CHECK(fit.components(c, largest) > 0);
  }
  // The SVD's components with the rule applied here are exactly ours, not just
  // up to sign.
  SvdReference ref = svdReference(samples, 10);
  for (int c = 0; c < 10; ++c) {
    Eigen::Index largest = 0;
    ref.components.row(c).cwiseAbs().maxCoeff(&largest);
    if (ref.components(c, largest) < 0) ref.components.row(c) *= -1;
  }
  CHECK((ref.components - fit.components).cwiseAbs().maxCoeff() < 1e-8);
}

TEST_CASE("PCA whitening divides by the component standard deviation", "[math][pca]") {
  const int n = 800;
  const Eigen::MatrixXf cells = makeFeatures(n, 96, 9);
  const Eigen::MatrixXd samples = cells.cast<double>();
  const PcaFit plain = fitPca(samples, 4, false);
  const PcaFit white = fitPca(samples, 4, true);
  CHECK(white.whiten);
  CHECK((white.components - plain.components).cwiseAbs().maxCoeff() < 1e-12);
  Eigen::MatrixXf a(n, 4);
  Eigen::MatrixXf b(n, 4);
  projectPca(plain, cells, a);
  projectPca(white, cells, b);
  for (int c = 0; c < 4; ++c) {
    const Eigen::VectorXd expected =
        a.col(c).cast<double>() / std::sqrt(plain.explainedVariance(c));
    CHECK((b.col(c).cast<double>() - expected).cwiseAbs().maxCoeff() < 1e-5);
    // Unit sample variance (n - 1 denominator) and zero mean over the fit sample.
    const Eigen::VectorXd column = b.col(c).cast<double>();
    const double mean = column.mean();
    CHECK(std::abs(mean) < 1e-5);
    CHECK((column.array() - mean).square().sum() / (n - 1) == Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("PCA direction and offset give the projections", "[math][pca]") {
  const int n = 400;
  const Eigen::MatrixXf cells = makeFeatures(n, 32, 13);
  for (bool whiten : {false, true}) {
    const PcaFit fit = fitPca(cells.cast<double>(), 3, whiten);
    Eigen::MatrixXf projected(n, 3);
    projectPca(fit, cells, projected);
    for (int c = 0; c < 3; ++c) {
      const Eigen::VectorXd direction = projectionDirection(fit, c);
      const double offset = projectionOffset(fit, c);
      const Eigen::VectorXd viaDirection = cells.cast<double>() * direction;
      CHECK(((viaDirection.array() - offset) - projected.col(c).cast<double>().array())
                .abs()
                .maxCoeff() < 1e-4);
    }
    CHECK_THROWS_AS(projectionDirection(fit, 3), std::invalid_argument);
    CHECK_THROWS_AS(projectionOffset(fit, -1), std::invalid_argument);
  }
}

TEST_CASE("PCA projections are NaN for cells with a NaN", "[math][pca]") {
  const int n = 200;
  Eigen::MatrixXf cells = makeFeatures(n, 16, 21);
  const PcaFit fit = fitPca(cells.cast<double>(), 3, false);
  Eigen::MatrixXf clean(n, 3);
  projectPca(fit, cells, clean);
  cells(5, 0) = std::numeric_limits<float>::quiet_NaN();
  cells(17, 15) = std::numeric_limits<float>::quiet_NaN();
  Eigen::MatrixXf out(n, 3);
  projectPca(fit, cells, out);
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      if (i == 5 || i == 17) {
        CHECK(std::isnan(out(i, c)));
      } else {
        REQUIRE(out(i, c) == clean(i, c));
      }
    }
  }
  // projectCentred is the same computation for any set of directions.
  Eigen::MatrixXf single(n, 1);
  projectCentred(fit.mean, projectionDirection(fit, 1), cells, single);
  CHECK(std::isnan(single(5, 0)));
  CHECK(single(6, 0) == out(6, 1));
}

TEST_CASE("PCA rejects invalid input naming the value", "[math][pca]") {
  const Eigen::MatrixXd samples = makeFeatures(20, 8, 3).cast<double>();
  CHECK_THROWS_WITH(fitPca(samples, 0, false),
                    Catch::Contains("k = 0") && Catch::Contains("[1, 8]"));
  CHECK_THROWS_WITH(fitPca(samples, 9, false),
                    Catch::Contains("k = 9") && Catch::Contains("[1, 8]"));
  CHECK_THROWS_WITH(fitPca(samples.topRows(5), 6, false),
                    Catch::Contains("k = 6") && Catch::Contains("[1, 5]"));
  CHECK_THROWS_WITH(fitPca(samples.topRows(1), 1, false), Catch::Contains("1 samples"));
  Eigen::MatrixXd withNan = samples;
  withNan(3, 3) = std::nan("");
  CHECK_THROWS_AS(fitPca(withNan, 2, false), std::invalid_argument);
  const PcaFit fit = fitPca(samples, 2, false);
  Eigen::MatrixXf wrongOut(20, 3);
  CHECK_THROWS_AS(projectPca(fit, samples.cast<float>(), wrongOut), std::invalid_argument);
  Eigen::MatrixXf out(20, 2);
  CHECK_THROWS_AS(projectPca(fit, samples.leftCols(7).cast<float>(), out), std::invalid_argument);
}

TEST_CASE("PCA equals scikit-learn's", "[math][pca][sklearn]") {
  const std::string missing = vitfeat::test::sklearnMissing();
  if (!missing.empty()) {
    WARN("SKIPPED: PCA vs scikit-learn: " << missing);
    return;
  }
  const int n = 1500;
  const int d = 1024;
  const int k = 8;
  const Eigen::MatrixXf cells = makeFeatures(n, d, 77);
  const PcaFit fit = fitPca(cells.cast<double>(), k, false);
  const PcaFit white = fitPca(cells.cast<double>(), k, true);
  Eigen::MatrixXf projected(n, k);
  Eigen::MatrixXf whitened(n, k);
  projectPca(fit, cells, projected);
  projectPca(white, cells, whitened);

  // Raw row-major arrays, as numpy.fromfile reads them.
  using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  vitfeat::test::TempFolder folder;
  const auto& dir = folder.path();
  const RowMajorF cellsRows = cells;
  const RowMajorD componentRows = fit.components;
  const RowMajorF projectedRows = projected;
  const RowMajorF whitenedRows = whitened;
  vitfeat::test::writeText(dir / "meta.txt", std::to_string(n) + " " + std::to_string(d) + " " +
                                                 std::to_string(k) + "\n");
  vitfeat::test::writeRaw(dir / "samples.f32", cellsRows.data(), cellsRows.size());
  vitfeat::test::writeRaw(dir / "mean.f64", fit.mean.data(), fit.mean.size());
  vitfeat::test::writeRaw(dir / "components.f64", componentRows.data(), componentRows.size());
  vitfeat::test::writeRaw(dir / "variance.f64", fit.explainedVariance.data(), k);
  vitfeat::test::writeRaw(dir / "ratio.f64", fit.explainedVarianceRatio.data(), k);
  vitfeat::test::writeRaw(dir / "projections.f32", projectedRows.data(), projectedRows.size());
  vitfeat::test::writeRaw(dir / "whitened.f32", whitenedRows.data(), whitenedRows.size());

  const auto result = vitfeat::test::runSklearnCheck("pca", dir);
  std::cout << result.output;
  INFO(result.output);
  CHECK(result.status == 0);
}
