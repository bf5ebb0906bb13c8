// TileGrid: validation, tile origins, coverage and tilesCovering, against
// hand-computed layouts.
#include <catch2/catch.hpp>
#include <random>
#include <stdexcept>
#include <vector>

#include "driver/tile_grid.h"

using vitfeat::CellRect;
using vitfeat::TileGrid;
using vitfeat::TileIndex;

namespace {

// Every tile meeting `cells`, by scanning the whole grid: the reference for
// the binary-search implementation.
std::vector<TileIndex> bruteForceCovering(const TileGrid& grid, const CellRect& cells) {
  std::vector<TileIndex> out;
  for (int iy = 0; iy < grid.tilesY(); ++iy) {
    for (int ix = 0; ix < grid.tilesX(); ++ix) {
      if (!grid.tileCells({ix, iy}).intersect(cells).empty()) out.push_back({ix, iy});
    }
  }
  return out;
}

}  // namespace

TEST_CASE("tile_grid: TileGrid cell size and cell counts and origins of a 100 x 50 raster",
          "[tile_grid]") {
  // T = 32 px, g = 4 cells -> c = 8 px. nx = ceil(100 / 8) = 13, ny = ceil(50 / 8) = 7.
  // S = 16 px = 2 cells. Along x: 0, 2, 4, 6, 8 end inside 13; the last tile is
  // shifted to 13 - 4 = 9. Along y: 0, 2 end inside 7; the last is 7 - 4 = 3.
  const TileGrid grid(100, 50, 32, 16, 4);
  CHECK(grid.cellSize() == 8);
  CHECK(grid.strideCells() == 2);
  CHECK(grid.cellsX() == 13);
  CHECK(grid.cellsY() == 7);
  CHECK(grid.originsXCells() == std::vector<int>{0, 2, 4, 6, 8, 9});
  CHECK(grid.originsYCells() == std::vector<int>{0, 2, 3});
  CHECK(grid.originsXPixels() == std::vector<int>{0, 16, 32, 48, 64, 72});
  CHECK(grid.originsYPixels() == std::vector<int>{0, 16, 24});
  CHECK(grid.tilesX() == 6);
  CHECK(grid.tilesY() == 3);
  CHECK(grid.tileCount() == 18);

  // The last tile ends exactly at the cell-aligned edge 13 * 8 = 104 px,
  // 4 px past the 100 px raster (the reader pads those).
  CHECK(grid.tileCells({5, 2}) == CellRect{9, 3, 4, 4});
  CHECK(grid.tilePixels({5, 2}) == CellRect{72, 24, 32, 32});
  CHECK(grid.tilePixels({1, 1}) == CellRect{16, 16, 32, 32});
}

TEST_CASE("tile_grid: TileGrid the documented 224 px / 14 token layout", "[tile_grid]") {
  // c = 224 / 14 = 16 px; 1000 x 600 px -> 63 x 38 cells. S = 112 px = 7 cells.
  // x: k * 7 + 14 < 63 for k = 0..6, then 63 - 14 = 49. y: k = 0..3, then 38 - 14 = 24.
  const TileGrid grid(1000, 600, 224, 112, 14);
  CHECK(grid.cellSize() == 16);
  CHECK(grid.cellsX() == 63);
  CHECK(grid.cellsY() == 38);
  CHECK(grid.originsXCells() == std::vector<int>{0, 7, 14, 21, 28, 35, 42, 49});
  CHECK(grid.originsYCells() == std::vector<int>{0, 7, 14, 21, 24});
  CHECK(grid.originsXPixels().back() == 63 * 16 - 224);
}

TEST_CASE(
    "tile_grid: TileGrid a raster that fits the stride grid exactly has no duplicate last tile",
    "[tile_grid]") {
  // 64 px = 8 cells, S = T = 4 cells: 0 ends inside, 4 ends exactly at 8, so it
  // is the shifted "last" tile and is not added twice.
  const TileGrid grid(64, 64, 32, 32, 4);
  CHECK(grid.originsXCells() == std::vector<int>{0, 4});
  CHECK(grid.originsYCells() == std::vector<int>{0, 4});

  // Stride of one cell: 0, 1 end inside 6 cells; the last is 6 - 4 = 2.
  const TileGrid fine(48, 48, 32, 8, 4);
  CHECK(fine.originsXCells() == std::vector<int>{0, 1, 2});

  // S = T on 13 cells: 0, 4, 8 then the shifted 9 (overlapping the previous one).
  const TileGrid noOverlap(100, 100, 32, 32, 4);
  CHECK(noOverlap.originsXCells() == std::vector<int>{0, 4, 8, 9});
}

TEST_CASE("tile_grid: TileGrid a raster smaller than one tile gets one padded tile",
          "[tile_grid]") {
  // 20 x 10 px with c = 8: 3 x 2 cells, fewer than g = 4 per side.
  const TileGrid grid(20, 10, 32, 16, 4);
  CHECK(grid.cellsX() == 3);
  CHECK(grid.cellsY() == 2);
  CHECK(grid.tileCount() == 1);
  CHECK(grid.tileCells({0, 0}) == CellRect{0, 0, 4, 4});
  CHECK(grid.tilePixels({0, 0}) == CellRect{0, 0, 32, 32});
  const auto tiles = grid.tilesCovering(grid.cellBounds());
  REQUIRE(tiles.size() == 1);
  CHECK(tiles[0] == TileIndex{0, 0});

  // Exactly one tile's worth of cells (nx * c == T): still a single tile.
  const TileGrid exact(32, 25, 32, 16, 4);
  CHECK(exact.originsXCells() == std::vector<int>{0});
  CHECK(exact.originsYCells() == std::vector<int>{0});
}

TEST_CASE("tile_grid: TileGrid order() is row-major and tileAt() inverts it", "[tile_grid]") {
  const TileGrid grid(100, 50, 32, 16, 4);  // 6 x 3 tiles
  CHECK(grid.order({0, 0}) == 0);
  CHECK(grid.order({5, 0}) == 5);
  CHECK(grid.order({0, 1}) == 6);
  CHECK(grid.order({5, 2}) == 17);
  for (int o = 0; o < grid.tileCount(); ++o) CHECK(grid.order(grid.tileAt(o)) == o);
  CHECK_THROWS_AS(grid.tileAt(18), std::out_of_range);
  CHECK_THROWS_AS(grid.tileAt(-1), std::out_of_range);
  CHECK_THROWS_AS(grid.tileCells({6, 0}), std::out_of_range);
}

TEST_CASE("tile_grid: TileGrid tilesCovering on hand-picked cells", "[tile_grid]") {
  const TileGrid grid(100, 50, 32, 16, 4);  // x origins 0 2 4 6 8 9, y origins 0 2 3

  // Cell (5, 2): x tiles with origin in (1, 6) -> 2, 4 (ix 1, 2);
  // y tiles with origin in (-2, 3) -> 0, 2 (iy 0, 1). Row-major.
  CHECK(grid.tilesCovering({5, 2, 1, 1}) == std::vector<TileIndex>{{1, 0}, {2, 0}, {1, 1}, {2, 1}});

  // The last column (12) is covered only by the shifted tile at 9; the last
  // row (6) by y tiles at 3 only.
  CHECK(grid.tilesCovering({12, 6, 1, 1}) == std::vector<TileIndex>{{5, 2}});

  // Column 0 .. 1 only by ix 0; rows 0 .. 1 only by iy 0.
  CHECK(grid.tilesCovering({0, 0, 2, 2}) == std::vector<TileIndex>{{0, 0}});

  // Empty and fully outside rectangles meet no tile.
  CHECK(grid.tilesCovering({3, 3, 0, 5}).empty());
  CHECK(grid.tilesCovering({13, 0, 4, 4}).empty());
  CHECK(grid.tilesCovering({-5, -5, 5, 5}).empty());

  // The whole raster needs every tile.
  CHECK(grid.tilesCovering(grid.cellBounds()).size() == 18u);
}

TEST_CASE("tile_grid: TileGrid every cell is covered and tilesCovering matches a full scan",
          "[tile_grid]") {
  struct Config {
    int w, h, t, s, g;
  };
  const std::vector<Config> configs = {
      {100, 50, 32, 16, 4},     {1000, 600, 224, 112, 14}, {1000, 600, 224, 224, 14},
      {1000, 600, 224, 16, 14}, {17, 300, 32, 24, 4},      {64, 64, 32, 32, 4},
      {20, 10, 32, 16, 4},      {225, 225, 224, 48, 14},   {33, 1, 30, 10, 3},
  };
  std::mt19937 rng(1234);
  for (const Config& cfg : configs) {
    CAPTURE(cfg.w, cfg.h, cfg.t, cfg.s, cfg.g);
    const TileGrid grid(cfg.w, cfg.h, cfg.t, cfg.s, cfg.g);
    const int g = grid.cellsPerTile();

    for (const auto* origins : {&grid.originsXCells(), &grid.originsYCells()}) {
      const int cells = origins == &grid.originsXCells() ? grid.cellsX() : grid.cellsY();
      REQUIRE_FALSE(origins->empty());
      CHECK(origins->front() == 0);
      // The last tile ends at the cell edge, or at g for a raster under one tile.
      CHECK(origins->back() + g == std::max(cells, g));
      for (size_t i = 1; i < origins->size(); ++i) {
        CHECK((*origins)[i] > (*origins)[i - 1]);                        // no duplicates
        CHECK((*origins)[i] - (*origins)[i - 1] <= grid.strideCells());  // no gaps
        if (i + 1 < origins->size()) CHECK((*origins)[i] % grid.strideCells() == 0);
      }
    }

    std::vector<int> coverage(static_cast<size_t>(grid.cellsX()) * grid.cellsY(), 0);
    for (int o = 0; o < grid.tileCount(); ++o) {
      const CellRect r = grid.tileCells(grid.tileAt(o)).intersect(grid.cellBounds());
      for (int y = r.y0; y < r.y1(); ++y) {
        for (int x = r.x0; x < r.x1(); ++x) ++coverage[static_cast<size_t>(y) * grid.cellsX() + x];
      }
    }
    for (int c : coverage) REQUIRE(c >= 1);

    std::uniform_int_distribution<int> posX(-3, grid.cellsX() + 3);
    std::uniform_int_distribution<int> posY(-3, grid.cellsY() + 3);
    std::uniform_int_distribution<int> size(0, 2 * g);
    for (int i = 0; i < 300; ++i) {
      const CellRect r{posX(rng), posY(rng), size(rng), size(rng)};
      CAPTURE(r.x0, r.y0, r.width, r.height);
      REQUIRE(grid.tilesCovering(r) == bruteForceCovering(grid, r));
    }
  }
}

TEST_CASE("tile_grid: TileGrid invalid parameters are rejected with a helpful message",
          "[tile_grid]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(TileGrid(0, 10, 224, 112, 14), Contains("raster width 0"));
  CHECK_THROWS_WITH(TileGrid(10, -1, 224, 112, 14), Contains("raster height -1"));
  CHECK_THROWS_WITH(TileGrid(10, 10, 0, 112, 14), Contains("TILE_SIZE 0"));
  CHECK_THROWS_WITH(TileGrid(10, 10, 224, 112, 0), Contains("cells per tile side 0"));

  // 200 is not a multiple of 14: 196 and 210 are.
  CHECK_THROWS_WITH(TileGrid(10, 10, 200, 100, 14),
                    Contains("TILE_SIZE 200") && Contains("196 and 210"));

  // c = 16: 100 lies between the valid strides 96 and 112.
  CHECK_THROWS_WITH(TileGrid(1000, 1000, 224, 100, 14),
                    Contains("STRIDE 100") && Contains("cell size 16") && Contains("96 and 112"));
  // Below one cell only the upper neighbour is valid.
  CHECK_THROWS_WITH(TileGrid(1000, 1000, 224, 8, 14),
                    Contains("STRIDE 8") && Contains("nearest valid STRIDE: 16"));
  CHECK_THROWS_WITH(TileGrid(1000, 1000, 224, 0, 14),
                    Contains("STRIDE 0") && Contains("[16, 224]"));
  CHECK_THROWS_WITH(TileGrid(1000, 1000, 224, 240, 14),
                    Contains("STRIDE 240") && Contains("[16, 224]"));
  CHECK_THROWS_AS(TileGrid(1000, 1000, 224, 100, 14), std::invalid_argument);

  CHECK_NOTHROW(TileGrid(1000, 1000, 224, 224, 14));
  CHECK_NOTHROW(TileGrid(1000, 1000, 224, 16, 14));
}

TEST_CASE("tile_grid: CellRect intersection and containment", "[tile_grid]") {
  const CellRect a{0, 0, 4, 4};
  CHECK(a.intersect({2, 3, 4, 4}) == CellRect{2, 3, 2, 1});
  CHECK(a.intersect({4, 0, 2, 2}).empty());  // touching edges do not overlap (half-open)
  CHECK(a.contains(3, 3));
  CHECK_FALSE(a.contains(4, 3));
  CHECK(a.x1() == 4);
}
