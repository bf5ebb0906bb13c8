#include "driver/tile_grid.h"

#include <algorithm>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace vitfeat {

CellRect CellRect::intersect(const CellRect& other) const {
  const int ax = std::max(x0, other.x0);
  const int ay = std::max(y0, other.y0);
  const int bx = std::min(x1(), other.x1());
  const int by = std::min(y1(), other.y1());
  if (bx <= ax || by <= ay) return {ax, ay, 0, 0};
  return {ax, ay, bx - ax, by - ay};
}

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("TileGrid: " + message);
}

void requirePositive(const char* what, int value) {
  if (value <= 0) {
    fail(std::string(what) + " " + std::to_string(value) + " is invalid: it must be > 0");
  }
}

// "a and b", "a", or "b": the valid neighbours of an invalid value, listing
// only those that exist within [lowest, highest].
std::string nearestMultiples(int value, int step, int lowest, int highest) {
  const int below = (value / step) * step;
  const int above = below + step;
  std::ostringstream os;
  const bool hasBelow = below >= lowest && below <= highest;
  const bool hasAbove = above >= lowest && above <= highest;
  if (hasBelow) os << below;
  if (hasBelow && hasAbove) os << " and ";
  if (hasAbove) os << above;
  return os.str();
}

// Ceiling division for positive operands.
int ceilDiv(int a, int b) { return a / b + (a % b != 0 ? 1 : 0); }

// Tile origins (in cells) along one axis of `cells` cells, for tiles of
// `tileCells` cells placed every `strideCells` cells. The regular origins
// 0, s, 2s, ... are kept while the tile ends strictly inside the axis; the last
// tile is then shifted inward to end exactly at `cells`, which never duplicates
// a regular origin (those all end before `cells`). An axis shorter than one tile
// gets a single tile at 0 that runs past the edge.
std::vector<int> axisOrigins(int cells, int tileCells, int strideCells) {
  if (cells <= tileCells) return {0};
  std::vector<int> origins;
  origins.reserve(static_cast<size_t>((cells - tileCells) / strideCells + 2));
  for (int o = 0; o + tileCells < cells; o += strideCells) origins.push_back(o);
  origins.push_back(cells - tileCells);
  return origins;
}

}  // namespace

TileGrid::TileGrid(int rasterWidth, int rasterHeight, int tileSize, int stride, int cellsPerTile)
    : rasterWidth_(rasterWidth),
      rasterHeight_(rasterHeight),
      tileSize_(tileSize),
      stride_(stride),
      cellsPerTile_(cellsPerTile) {
  requirePositive("raster width", rasterWidth);
  requirePositive("raster height", rasterHeight);
  requirePositive("cells per tile side", cellsPerTile);
  requirePositive("TILE_SIZE", tileSize);
  if (tileSize % cellsPerTile != 0) {
    // Each cell must cover a whole number of input pixels.
    fail("TILE_SIZE " + std::to_string(tileSize) + " is not a multiple of the " +
         std::to_string(cellsPerTile) + " cells per tile side; nearest valid TILE_SIZE: " +
         nearestMultiples(tileSize, cellsPerTile, cellsPerTile, std::numeric_limits<int>::max()));
  }
  cellSize_ = tileSize / cellsPerTile;

  if (stride <= 0 || stride > tileSize) {
    // A stride above T would leave cells no tile covers.
    fail("STRIDE " + std::to_string(stride) + " is out of range: it must be in [" +
         std::to_string(cellSize_) + ", " + std::to_string(tileSize) +
         "] (one cell to TILE_SIZE) and a multiple of the cell size " + std::to_string(cellSize_));
  }
  if (stride % cellSize_ != 0) {
    // Tiles must start on cell boundaries so their cells line up across tiles.
    fail("STRIDE " + std::to_string(stride) + " is not a multiple of the cell size " +
         std::to_string(cellSize_) + " (TILE_SIZE " + std::to_string(tileSize) + " / " +
         std::to_string(cellsPerTile) + " cells); nearest valid STRIDE: " +
         nearestMultiples(stride, cellSize_, cellSize_, tileSize));
  }

  cellsX_ = ceilDiv(rasterWidth, cellSize_);
  cellsY_ = ceilDiv(rasterHeight, cellSize_);
  // Pixel coordinates of cell edges (and of tile windows) must fit in an int,
  // the type GDAL uses for raster offsets.
  const std::int64_t maxCells = std::max<std::int64_t>(std::max(cellsX_, cellsY_), cellsPerTile);
  if (maxCells * cellSize_ > std::numeric_limits<int>::max()) {
    fail("raster " + std::to_string(rasterWidth) + " x " + std::to_string(rasterHeight) +
         " is too large: its cell-aligned size overflows a 32-bit pixel offset");
  }

  const int strideCells = stride / cellSize_;
  originsX_ = axisOrigins(cellsX_, cellsPerTile, strideCells);
  originsY_ = axisOrigins(cellsY_, cellsPerTile, strideCells);
}

std::vector<int> TileGrid::originsXPixels() const {
  std::vector<int> px(originsX_);
  for (int& o : px) o *= cellSize_;
  return px;
}

std::vector<int> TileGrid::originsYPixels() const {
  std::vector<int> px(originsY_);
  for (int& o : px) o *= cellSize_;
  return px;
}

TileIndex TileGrid::tileAt(int order) const {
  if (order < 0 || order >= tileCount()) {
    throw std::out_of_range("TileGrid: tile order " + std::to_string(order) +
                            " is out of range [0, " + std::to_string(tileCount()) + ")");
  }
  return {order % tilesX(), order / tilesX()};
}

CellRect TileGrid::tileCells(const TileIndex& t) const {
  if (!valid(t)) {
    throw std::out_of_range("TileGrid: tile (" + std::to_string(t.ix) + ", " +
                            std::to_string(t.iy) + ") is outside the " + std::to_string(tilesX()) +
                            " x " + std::to_string(tilesY()) + " tile grid");
  }
  return {originsX_[static_cast<size_t>(t.ix)], originsY_[static_cast<size_t>(t.iy)], cellsPerTile_,
          cellsPerTile_};
}

PixelWindow TileGrid::tilePixels(const TileIndex& t) const {
  const CellRect cells = tileCells(t);
  return {cells.x0 * cellSize_, cells.y0 * cellSize_, tileSize_, tileSize_};
}

std::pair<int, int> TileGrid::axisRange(const std::vector<int>& origins, int a, int b) const {
  // Origins are strictly ascending and all tiles have the same length g, so
  // both the tile starts and the tile ends are sorted: a tile meets [a, b)
  // iff origin < b and origin + g > a.
  const auto first = std::upper_bound(origins.begin(), origins.end(), a - cellsPerTile_);
  const auto last = std::lower_bound(first, origins.end(), b);
  return {static_cast<int>(first - origins.begin()), static_cast<int>(last - origins.begin())};
}

std::vector<TileIndex> TileGrid::tilesCovering(const CellRect& cells) const {
  std::vector<TileIndex> tiles;
  if (cells.empty()) return tiles;
  const auto [x0, x1] = axisRange(originsX_, cells.x0, cells.x1());
  const auto [y0, y1] = axisRange(originsY_, cells.y0, cells.y1());
  if (x1 <= x0 || y1 <= y0) return tiles;
  tiles.reserve(static_cast<size_t>(x1 - x0) * static_cast<size_t>(y1 - y0));
  for (int iy = y0; iy < y1; ++iy) {
    for (int ix = x0; ix < x1; ++ix) tiles.push_back({ix, iy});
  }
  return tiles;
}

}  // namespace vitfeat
