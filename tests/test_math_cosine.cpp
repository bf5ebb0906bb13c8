// Cosine similarity and per-row argmax against hand-computed values.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "pixelfunctions/cosine.h"

using vitfeat::math::argmaxRows;
using vitfeat::math::cosineSimilarity;

namespace {
const float kNaN = std::numeric_limits<float>::quiet_NaN();
}

TEST_CASE("cosineSimilarity against hand computation", "[math][cosine]") {
  Eigen::VectorXd reference(3);
  reference << 2, 0, 0;  // the length of the reference does not matter
  Eigen::MatrixXf cells(7, 3);
  cells << 1, 0, 0,  // same direction: 1
      0, 1, 0,       // orthogonal: 0
      -3, 0, 0,      // opposite: -1
      1, 1, 0,       // 45 degrees: 1/sqrt(2)
      1, 2, 2,       // 1/3
      0, 0, 0,       // zero length: NaN
      kNaN, 1, 1;    // NaN feature: NaN
  Eigen::VectorXf out(7);
  cosineSimilarity(reference, cells, out);
  CHECK(out(0) == 1.0f);
  CHECK(out(1) == 0.0f);
  CHECK(out(2) == -1.0f);
  CHECK(out(3) == Approx(1 / std::sqrt(2.0)).epsilon(1e-6));
  CHECK(out(4) == Approx(1 / 3.0).epsilon(1e-6));
  CHECK(std::isnan(out(5)));
  CHECK(std::isnan(out(6)));
}

TEST_CASE("cosineSimilarity of many cells stays within -1..1", "[math][cosine]") {
  // Parallel cells of very different lengths: exactly +-1 after clamping, over
  // more than one internal block.
  const int count = 10000;
  Eigen::VectorXd reference = Eigen::VectorXd::LinSpaced(64, -3, 5);
  Eigen::MatrixXf cells(count, 64);
  for (int i = 0; i < count; ++i) {
    const double scale = (i % 2 ? -1 : 1) * std::pow(10.0, (i % 13) - 6);
    cells.row(i) = (reference * scale).cast<float>().transpose();
  }
  Eigen::VectorXf out(count);
  cosineSimilarity(reference, cells, out);
  for (int i = 0; i < count; ++i) {
    REQUIRE(std::abs(out(i)) <= 1.0f);
    REQUIRE(std::abs(out(i)) == Approx(1.0f).epsilon(1e-6));
    REQUIRE((out(i) > 0) == (i % 2 == 0));
  }
}

TEST_CASE("cosineSimilarity rejects bad input", "[math][cosine]") {
  Eigen::MatrixXf cells = Eigen::MatrixXf::Ones(2, 3);
  Eigen::VectorXf out(2);
  CHECK_THROWS_AS(cosineSimilarity(Eigen::VectorXd::Zero(3), cells, out), std::invalid_argument);
  CHECK_THROWS_AS(cosineSimilarity(Eigen::VectorXd::Ones(4), cells, out), std::invalid_argument);
  Eigen::VectorXf wrong(3);
  CHECK_THROWS_AS(cosineSimilarity(Eigen::VectorXd::Ones(3), cells, wrong), std::invalid_argument);
  Eigen::VectorXd nan = Eigen::VectorXd::Ones(3);
  nan(1) = std::nan("");
  CHECK_THROWS_AS(cosineSimilarity(nan, cells, out), std::invalid_argument);
}

TEST_CASE("argmaxRows picks the largest column (lower on ties) and -1 for NaN", "[math][cosine]") {
  Eigen::MatrixXf scores(5, 3);
  scores << 0.1f, 0.9f, 0.3f,  // 1
      0.5f, 0.5f, 0.2f,        // tie: 0
      -1, -2, -0.5f,           // 2
      0.2f, kNaN, 0.9f,        // NaN: -1
      0.3f, 0.3f, 0.3f;        // all tied: 0
  std::vector<int> index{42};
  argmaxRows(scores, index);
  CHECK(index == std::vector<int>{1, 0, 2, -1, 0});
  Eigen::MatrixXf none(2, 0);
  argmaxRows(none, index);
  CHECK(index == std::vector<int>{-1, -1});
}
