// Blender: every mode on hand-computed layouts, NaN for uncovered cells, and
// independence from the add() order and from the output window.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "driver/blender.h"
#include "driver/tile_grid.h"

using vitfeat::Blender;
using vitfeat::BlendMode;
using vitfeat::CellRect;
using vitfeat::TileGrid;
using vitfeat::TileIndex;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kG = 4;  // cells per tile side in the hand-computed layouts
constexpr int kD = 2;  // features per cell

const std::vector<BlendMode> kAllModes = {
    BlendMode::First, BlendMode::Last,  BlendMode::Average, BlendMode::Min,    BlendMode::Max,
    BlendMode::Sum,   BlendMode::Count, BlendMode::Center,  BlendMode::Linear, BlendMode::Cosine,
};

// 64 x 64 px, T = 32, S = 16, g = 4: c = 8, 8 x 8 cells, origins 0, 2, 4 per
// axis, so 3 x 3 tiles with orders 0..8 (order = 3 * iy + ix). Along an axis,
// cells 0-1 are covered by one tile, 2-3 by tiles 0 and 1, 4-5 by 1 and 2,
// 6-7 by tile 2 only: a cell is covered by 1, 2 or 4 tiles.
TileGrid handGrid() { return TileGrid(64, 64, 32, 16, kG); }

// A constant tile: feature 0 = order + 1, feature 1 = -(order + 1).
std::vector<float> constantTile(int order, int g = kG) {
  std::vector<float> grid(static_cast<size_t>(g) * g * kD);
  for (size_t i = 0; i < grid.size(); i += kD) {
    grid[i] = static_cast<float>(order + 1);
    grid[i + 1] = -static_cast<float>(order + 1);
  }
  return grid;
}

// Blends the constant tiles of handGrid() over its whole 8 x 8 cell raster.
std::vector<float> blendConstant(BlendMode mode) {
  const TileGrid grid = handGrid();
  Blender blender(mode, grid.cellBounds(), kD);
  std::vector<std::vector<float>> tiles;  // read by finish()
  for (int o = 0; o < grid.tileCount(); ++o) tiles.push_back(constantTile(o));
  for (int o = 0; o < grid.tileCount(); ++o) {
    blender.add(grid.tileCells(grid.tileAt(o)), o, tiles[static_cast<size_t>(o)].data());
  }
  return blender.finish();
}

// Feature d of cell (x, y) in a band-sequential window of w x h cells.
float at(const std::vector<float>& out, int w, int h, int x, int y, int d) {
  return out[(static_cast<size_t>(d) * h + y) * w + x];
}
float at8(const std::vector<float>& out, int x, int y, int d) { return at(out, 8, 8, x, y, d); }

// Equal, with NaN equal to NaN: for bit-exact comparisons of blended planes.
bool sameValue(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Deterministic, exactly representable feature grid (multiples of 1/16), so
// that sums are exact in any order.
std::vector<float> randomTile(int seed, int g, int d) {
  std::mt19937 rng(static_cast<unsigned>(seed) * 7919u + 17u);
  std::uniform_int_distribution<int> dist(-800, 800);
  std::vector<float> grid(static_cast<size_t>(g) * g * d);
  for (float& v : grid) v = static_cast<float>(dist(rng)) / 16.0f;
  return grid;
}

}  // namespace

TEST_CASE("blender: mode names parse case-insensitively and round-trip", "[blender]") {
  CHECK(vitfeat::parseBlendMode("average") == BlendMode::Average);
  CHECK(vitfeat::parseBlendMode("AVERAGE") == BlendMode::Average);
  CHECK(vitfeat::parseBlendMode("CoSiNe") == BlendMode::Cosine);
  for (BlendMode m : kAllModes) CHECK(vitfeat::parseBlendMode(vitfeat::blendModeName(m)) == m);
  CHECK(vitfeat::blendModeList() ==
        "first, last, average, min, max, sum, count, center, linear, cosine");
  CHECK_THROWS_AS(vitfeat::parseBlendMode("mean"), std::invalid_argument);
  CHECK_THROWS_WITH(vitfeat::parseBlendMode("mean"),
                    Catch::Matchers::Contains("'mean'") &&
                        Catch::Matchers::Contains("first, last, average, min, max, sum, count, "
                                                  "center, linear, cosine"));
  CHECK_THROWS_AS(vitfeat::parseBlendMode(""), std::invalid_argument);
}

TEST_CASE("blender: axis weights are positive and peak at the tile centre", "[blender]") {
  // g = 4: u = 1/8, 3/8, 5/8, 7/8 -> linear 1/4, 3/4, 3/4, 1/4.
  CHECK(vitfeat::blendAxisWeight(BlendMode::Linear, 0, 4) == Approx(0.25));
  CHECK(vitfeat::blendAxisWeight(BlendMode::Linear, 1, 4) == Approx(0.75));
  CHECK(vitfeat::blendAxisWeight(BlendMode::Cosine, 0, 4) ==
        Approx(std::pow(std::sin(kPi / 8), 2)));
  CHECK(vitfeat::blendAxisWeight(BlendMode::Average, 2, 4) == 1.0);
  for (BlendMode m : {BlendMode::Linear, BlendMode::Cosine}) {
    for (int g : {1, 2, 7, 14}) {
      for (int j = 0; j < g; ++j) {
        const double w = vitfeat::blendAxisWeight(m, j, g);
        CHECK(w > 0.0);
        CHECK(w <= 1.0);
        CHECK(w == Approx(vitfeat::blendAxisWeight(m, g - 1 - j, g)));  // symmetric
        // Strictly rising up to the middle cell(s).
        if (2 * j + 3 <= g) CHECK(w < vitfeat::blendAxisWeight(m, j + 1, g));
      }
    }
  }
}

TEST_CASE("blender: count is 1 or 2 or 4 per region", "[blender]") {
  const auto out = blendConstant(BlendMode::Count);
  const int perAxis[8] = {1, 1, 2, 2, 2, 2, 1, 1};
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      CAPTURE(x, y);
      CHECK(at8(out, x, y, 0) == static_cast<float>(perAxis[x] * perAxis[y]));
      CHECK(at8(out, x, y, 1) == at8(out, x, y, 0));  // same count in every plane
    }
  }
}

TEST_CASE("blender: sum average min max first last on constant tiles", "[blender]") {
  // Covering tiles (order -> value order + 1):
  //   (0, 0): tile 0                     -> {1}
  //   (3, 0): tiles 0, 1                 -> {1, 2}
  //   (3, 3): tiles 0, 1, 3, 4           -> {1, 2, 4, 5}
  //   (4, 4): tiles 4, 5, 7, 8           -> {5, 6, 8, 9}
  //   (7, 2): tiles 2, 5                 -> {3, 6}
  //   (7, 7): tile 8                     -> {9}
  struct Expect {
    int x, y;
    float sum, average, min, max, first, last;
  };
  const std::vector<Expect> cases = {
      {0, 0, 1, 1, 1, 1, 1, 1},  {3, 0, 3, 1.5f, 1, 2, 1, 2}, {3, 3, 12, 3, 1, 5, 1, 5},
      {4, 4, 28, 7, 5, 9, 5, 9}, {7, 2, 9, 4.5f, 3, 6, 3, 6}, {7, 7, 9, 9, 9, 9, 9, 9},
  };
  const auto sum = blendConstant(BlendMode::Sum);
  const auto average = blendConstant(BlendMode::Average);
  const auto mn = blendConstant(BlendMode::Min);
  const auto mx = blendConstant(BlendMode::Max);
  const auto first = blendConstant(BlendMode::First);
  const auto last = blendConstant(BlendMode::Last);
  for (const Expect& e : cases) {
    CAPTURE(e.x, e.y);
    CHECK(at8(sum, e.x, e.y, 0) == e.sum);
    CHECK(at8(sum, e.x, e.y, 1) == -e.sum);
    CHECK(at8(average, e.x, e.y, 0) == e.average);
    CHECK(at8(average, e.x, e.y, 1) == -e.average);
    CHECK(at8(mn, e.x, e.y, 0) == e.min);
    CHECK(at8(mn, e.x, e.y, 1) == -e.max);  // feature 1 is negated: min <-> max
    CHECK(at8(mx, e.x, e.y, 0) == e.max);
    CHECK(at8(mx, e.x, e.y, 1) == -e.min);
    CHECK(at8(first, e.x, e.y, 0) == e.first);
    CHECK(at8(first, e.x, e.y, 1) == -e.first);
    CHECK(at8(last, e.x, e.y, 0) == e.last);
    CHECK(at8(last, e.x, e.y, 1) == -e.last);
  }
}

TEST_CASE("blender: average is the exact mean of all tiles, not a running pairwise mean",
          "[blender]") {
  // Cell (3, 3) sees 1, 2, 4, 5: mean 3. A running pairwise mean added in
  // row-major order would give ((((1 + 2) / 2 + 4) / 2) + 5) / 2 = 4.375.
  const auto average = blendConstant(BlendMode::Average);
  CHECK(at8(average, 3, 3, 0) == 3.0f);
  CHECK(at8(average, 3, 3, 0) != 4.375f);
}

TEST_CASE("blender: center takes the tile whose centre is nearest", "[blender]") {
  const auto center = blendConstant(BlendMode::Center);
  // Tile centres on each axis (cells): 2, 4, 6 for origins 0, 2, 4.
  // (3, 0): centre (3.5, 0.5); tiles 0 (2, 2) and 1 (4, 2): tile 1 -> 2.
  CHECK(at8(center, 3, 0, 0) == 2.0f);
  // (3, 3): centre (3.5, 3.5); tile 4 at (4, 4) is nearest -> 5.
  CHECK(at8(center, 3, 3, 0) == 5.0f);
  // (4, 4): centre (4.5, 4.5); tile 4 at (4, 4) beats 8 at (6, 6) -> 5.
  CHECK(at8(center, 4, 4, 0) == 5.0f);
  CHECK(at8(center, 4, 4, 1) == -5.0f);
  // (2, 5): centre (2.5, 5.5); x: tile col 0 (2) beats col 1 (4); y: row 2 (6)
  // beats row 1 (4) -> tile 6 -> 7.
  CHECK(at8(center, 2, 5, 0) == 7.0f);
  // (0, 7): only tile 6 -> 7.
  CHECK(at8(center, 0, 7, 0) == 7.0f);
}

TEST_CASE("blender: center breaks distance ties by the lowest order number", "[blender]") {
  // Tiles A = {0,0,4,4} (order 5, value 6) and B = {1,0,4,4} (order 2, value 3):
  // centres (2, 2) and (3, 2). Cell (2, 1), centre (2.5, 1.5), is 0.5 / 0.5
  // from both: the tie goes to B, order 2, whichever is added first.
  const CellRect window{0, 0, 5, 4};
  const CellRect a{0, 0, 4, 4};
  const CellRect b{1, 0, 4, 4};
  for (bool aFirst : {true, false}) {
    CAPTURE(aFirst);
    Blender blender(BlendMode::Center, window, kD);
    const std::vector<float> five = constantTile(5), two = constantTile(2);
    if (aFirst) blender.add(a, 5, five.data());
    blender.add(b, 2, two.data());
    if (!aFirst) blender.add(a, 5, five.data());
    const auto out = blender.finish();
    CHECK(at(out, 5, 4, 2, 1, 0) == 3.0f);
    CHECK(at(out, 5, 4, 0, 1, 0) == 6.0f);  // only A
    CHECK(at(out, 5, 4, 4, 1, 0) == 3.0f);  // only B
    CHECK(at(out, 5, 4, 1, 1, 0) == 6.0f);  // centre 1.5: A (2) is nearer than B (3)
    CHECK(at(out, 5, 4, 3, 1, 0) == 3.0f);  // centre 3.5: B (3) is nearer than A (2)
  }
}

TEST_CASE("blender: linear and cosine are the weighted means of the definition", "[blender]") {
  // Weighted mean at a cell from (value, local col, local row) of each covering
  // tile, with w = w(col) * w(row), straight from the definition.
  struct Contribution {
    float value;
    int col, row;
  };
  auto expected = [](BlendMode mode, const std::vector<Contribution>& cs) {
    auto axis = [mode](int j) {
      const double u = (j + 0.5) / kG;
      return mode == BlendMode::Linear ? 1.0 - std::abs(2.0 * u - 1.0)
                                       : std::pow(std::sin(kPi * u), 2);
    };
    double num = 0.0, den = 0.0;
    for (const Contribution& c : cs) {
      const double w = axis(c.col) * axis(c.row);
      num += w * c.value;
      den += w;
    }
    return num / den;
  };
  // (3, 0): tile 0 at local (col 3, row 0), tile 1 at (1, 0).
  const std::vector<Contribution> cell30 = {{1, 3, 0}, {2, 1, 0}};
  // (3, 3): tiles 0 (3, 3), 1 (1, 3), 3 (3, 1), 4 (1, 1).
  const std::vector<Contribution> cell33 = {{1, 3, 3}, {2, 1, 3}, {4, 3, 1}, {5, 1, 1}};
  // (4, 5): x tiles 1 (col 2), 2 (col 0); y tiles 1 (row 3), 2 (row 1) -> orders 4, 5, 7, 8.
  const std::vector<Contribution> cell45 = {{5, 2, 3}, {6, 0, 3}, {8, 2, 1}, {9, 0, 1}};

  for (BlendMode mode : {BlendMode::Linear, BlendMode::Cosine}) {
    CAPTURE(vitfeat::blendModeName(mode));
    const auto out = blendConstant(mode);
    CHECK(at8(out, 0, 0, 0) == Approx(1.0));  // a single tile: its own value
    CHECK(at8(out, 3, 0, 0) == Approx(expected(mode, cell30)));
    CHECK(at8(out, 3, 3, 0) == Approx(expected(mode, cell33)));
    CHECK(at8(out, 4, 5, 0) == Approx(expected(mode, cell45)));
    CHECK(at8(out, 4, 5, 1) == Approx(-expected(mode, cell45)));
  }

  // Closed forms for linear (weights 1/4, 3/4, 3/4, 1/4):
  // (3, 0): (1 * 1/16 + 2 * 3/16) / (4/16) = 1.75.
  // (3, 3): weights 1/16, 3/16, 3/16, 9/16 sum to 1: 1/16 + 6/16 + 12/16 + 45/16 = 4.
  const auto linear = blendConstant(BlendMode::Linear);
  CHECK(at8(linear, 3, 0, 0) == Approx(1.75));
  CHECK(at8(linear, 3, 3, 0) == Approx(4.0));
  // Cosine at (3, 3): with a = sin^2(pi/8), b = sin^2(3pi/8) = 1 - a the weights
  // a^2, ab, ab, b^2 sum to 1: value = a^2 + 6ab + 5b^2.
  const double a = std::pow(std::sin(kPi / 8), 2);
  const double b = 1.0 - a;
  const auto cosine = blendConstant(BlendMode::Cosine);
  CHECK(at8(cosine, 3, 3, 0) == Approx(a * a + 6 * a * b + 5 * b * b));
}

TEST_CASE("blender: cells no tile covers are NaN in every mode", "[blender]") {
  const TileGrid grid = handGrid();
  // A window hanging past the 8 x 8 raster: columns and rows 8, 9 have no tile.
  const CellRect window{6, 6, 4, 4};
  for (BlendMode mode : kAllModes) {
    CAPTURE(vitfeat::blendModeName(mode));
    Blender blender(mode, window, kD);
    std::vector<std::vector<float>> tiles;  // read by finish()
    for (const TileIndex& t : grid.tilesCovering(window))
      tiles.push_back(constantTile(grid.order(t)));
    size_t k = 0;
    for (const TileIndex& t : grid.tilesCovering(window)) {
      blender.add(grid.tileCells(t), grid.order(t), tiles[k++].data());
    }
    const auto out = blender.finish();
    REQUIRE(out.size() == 4u * 4u * kD);
    for (int d = 0; d < kD; ++d) {
      for (int y = 0; y < 4; ++y) {
        for (int x = 0; x < 4; ++x) {
          const bool inside = window.x0 + x < 8 && window.y0 + y < 8;
          CHECK(std::isnan(at(out, 4, 4, x, y, d)) == !inside);
        }
      }
    }
    CHECK(blender.coverage(7, 7) == 1);
    CHECK(blender.coverage(8, 7) == 0);
  }

  // No tiles at all: everything NaN.
  Blender empty(BlendMode::Average, {0, 0, 3, 2}, kD);
  for (float v : empty.finish()) CHECK(std::isnan(v));
}

TEST_CASE("blender: the result does not depend on the order tiles are added", "[blender]") {
  const TileGrid grid = handGrid();
  std::vector<std::vector<float>> tiles;
  for (int o = 0; o < grid.tileCount(); ++o) tiles.push_back(randomTile(o, kG, kD));

  std::vector<int> permutation(static_cast<size_t>(grid.tileCount()));
  std::iota(permutation.begin(), permutation.end(), 0);
  std::mt19937 rng(42);
  for (BlendMode mode : kAllModes) {
    CAPTURE(vitfeat::blendModeName(mode));
    std::vector<float> reference;
    for (int trial = 0; trial < 6; ++trial) {
      if (trial == 1) std::reverse(permutation.begin(), permutation.end());
      if (trial > 1) std::shuffle(permutation.begin(), permutation.end(), rng);
      Blender blender(mode, grid.cellBounds(), kD);
      for (int o : permutation) {
        blender.add(grid.tileCells(grid.tileAt(o)), o, tiles[static_cast<size_t>(o)].data());
      }
      const auto out = blender.finish();
      if (trial == 0) {
        reference = out;
        continue;
      }
      REQUIRE(out.size() == reference.size());
      for (size_t i = 0; i < out.size(); ++i) {
        CAPTURE(trial, i);
        if (mode == BlendMode::Linear || mode == BlendMode::Cosine) {
          // Products with irrational weights round differently per order, far
          // below float precision.
          REQUIRE(out[i] == Approx(reference[i]).epsilon(1e-6));
        } else {
          // Inputs are multiples of 1/16: sums are exact in any order.
          REQUIRE(out[i] == reference[i]);
        }
      }
    }
  }
}

TEST_CASE("blender: a cell gets the same value in any window containing it", "[blender]") {
  // 100 x 76 px, T = 32, S = 16, g = 4: 13 x 10 cells, x origins 0 2 4 6 8 9,
  // y origins 0 2 4 6; random, distinct tiles.
  const TileGrid grid(100, 76, 32, 16, kG);
  REQUIRE(grid.originsYCells() == std::vector<int>{0, 2, 4, 6});
  constexpr int D = 3;
  std::vector<std::vector<float>> tiles;
  for (int o = 0; o < grid.tileCount(); ++o) tiles.push_back(randomTile(100 + o, kG, D));

  auto blend = [&](BlendMode mode, const CellRect& window) {
    Blender blender(mode, window, D);
    // Only the tiles covering the window, as the driver does for a block.
    for (const TileIndex& t : grid.tilesCovering(window)) {
      blender.add(grid.tileCells(t), grid.order(t),
                  tiles[static_cast<size_t>(grid.order(t))].data());
    }
    return blender.finish();
  };

  std::vector<CellRect> windows = {{3, 2, 5, 4}, {12, 9, 1, 1}, {0, 0, 1, 10}, {5, 5, 8, 5}};
  // GDAL-style 4 x 4 blocks over the raster, the edge ones partial.
  for (int by = 0; by < grid.cellsY(); by += 4) {
    for (int bx = 0; bx < grid.cellsX(); bx += 4) {
      windows.push_back({bx, by, std::min(4, grid.cellsX() - bx), std::min(4, grid.cellsY() - by)});
    }
  }

  const CellRect whole = grid.cellBounds();
  for (BlendMode mode : kAllModes) {
    CAPTURE(vitfeat::blendModeName(mode));
    const auto full = blend(mode, whole);
    for (float v : full) REQUIRE_FALSE(std::isnan(v));  // every cell is covered
    for (const CellRect& w : windows) {
      CAPTURE(w.x0, w.y0, w.width, w.height);
      const auto part = blend(mode, w);
      for (int d = 0; d < D; ++d) {
        for (int y = 0; y < w.height; ++y) {
          for (int x = 0; x < w.width; ++x) {
            REQUIRE(sameValue(at(part, w.width, w.height, x, y, d),
                              at(full, whole.width, whole.height, w.x0 + x, w.y0 + y, d)));
          }
        }
      }
    }
  }
}

TEST_CASE("blender: invalid arguments", "[blender]") {
  CHECK_THROWS_AS(Blender(BlendMode::Sum, {0, 0, 4, 4}, 0), std::invalid_argument);
  CHECK_THROWS_AS(Blender(BlendMode::Sum, {0, 0, -1, 4}, 1), std::invalid_argument);
  Blender blender(BlendMode::Sum, {0, 0, 4, 4}, 1);
  const std::vector<float> grid(16, 1.0f);
  CHECK_THROWS_AS(blender.add({0, 0, 4, 2}, 0, grid.data()), std::invalid_argument);
  CHECK_THROWS_AS(blender.add({0, 0, 4, 4}, 0, nullptr), std::invalid_argument);
  // A tile entirely outside the window is a no-op.
  blender.add({10, 10, 4, 4}, 0, grid.data());
  for (float v : blender.finish()) CHECK(std::isnan(v));
}

TEST_CASE("blender: a cell one tile covers takes that tile's values exactly", "[blender]") {
  // Two tiles side by side (no overlap) with values of every magnitude, NaN
  // and infinities: every mode but count returns them exactly (weighted and
  // averaged modes too; -0 may come back as +0 from a sum, equal in value).
  constexpr int g = 3, D = 5;
  std::vector<float> left(g * g * D), right(g * g * D);
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(),
                            -0.0f,
                            1.0f / 3.0f};
  for (size_t i = 0; i < left.size(); ++i) {
    left[i] = specials[i % 7];
    right[i] = std::ldexp(1.0f + 0.1f * static_cast<float>(i), static_cast<int>(i % 50) - 25);
  }
  const CellRect window{0, 0, 2 * g, g};
  for (BlendMode mode : kAllModes) {
    if (mode == BlendMode::Count) continue;
    CAPTURE(vitfeat::blendModeName(mode));
    Blender blender(mode, window, D);
    blender.add({0, 0, g, g}, 0, left.data());
    blender.add({g, 0, g, g}, 1, right.data());
    const auto out = blender.finish();
    for (int y = 0; y < g; ++y)
      for (int x = 0; x < 2 * g; ++x)
        for (int d = 0; d < D; ++d) {
          const std::vector<float>& tile = x < g ? left : right;
          const float expected = tile[(static_cast<size_t>(y) * g + x % g) * D + d];
          REQUIRE(sameValue(at(out, 2 * g, g, x, y, d), expected));
        }
  }
}
