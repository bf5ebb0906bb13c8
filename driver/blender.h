// Combines the feature grids of overlapping tiles into one window of output
// cells. Pure std:: code: the driver feeds it tiles (from the cache or the
// model) and copies the finished planes into GDAL buffers.
//
// A cell's value depends only on the set of tiles covering it and on the
// cell's position inside each of them, never on the window it is computed in
// or on the order tiles are added: a GDAL block, a whole-raster read and any
// sub-window all agree, provided every tile covering the window is added.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "driver/tile_grid.h"

namespace vitfeat {

enum class BlendMode {
  First,    // value of the covering tile with the lowest order number
  Last,     // value of the covering tile with the highest order number
  Average,  // mean over all covering tiles
  Min,      // elementwise minimum
  Max,      // elementwise maximum
  Sum,      // sum over covering tiles
  Count,    // number of covering tiles (same in every feature plane)
  Center,   // value of the tile whose centre is nearest the cell centre
  Linear,   // mean weighted by a tent window (1 - |2u - 1|) per axis
  Cosine,   // mean weighted by a sin^2(pi u) window per axis
};

// Case-insensitive; throws std::invalid_argument listing the valid names.
BlendMode parseBlendMode(std::string_view name);
// Lower-case canonical name ("first", ..., "cosine").
const char* blendModeName(BlendMode mode);
// "first, last, average, min, max, sum, count, center, linear, cosine"
std::string blendModeList();

// Weight of cell j (0 <= j < g) along one axis of a tile of g cells for the
// weighted modes (Linear, Cosine); 1 for every other mode. u = (j + 0.5) / g.
double blendAxisWeight(BlendMode mode, int j, int g);

class Blender {
 public:
  // window: the output cells to produce (any rectangle in cell coordinates).
  // features: D, the number of values per cell (> 0).
  Blender(BlendMode mode, const CellRect& window, int features);

  BlendMode mode() const { return mode_; }
  const CellRect& window() const { return window_; }
  int features() const { return features_; }

  // Adds one tile. tileCells is the square g x g rectangle the tile covers
  // (TileGrid::tileCells), order its TileGrid::order() number, grid its
  // features as [g][g][D] row-major: cell (row, col), feature d at
  // ((row * g) + col) * D + d. Cells outside the window are ignored, so a tile
  // that misses the window entirely is a no-op. May be called in any order.
  // The grid is read by finish(), not copied: it must stay valid and
  // unchanged until the last finish().
  // Throws std::invalid_argument for a non-square or empty tile or null grid.
  void add(const CellRect& tileCells, int order, const float* grid);

  // Writes the result band-sequentially: out[(d * height + row) * width + col]
  // for the window, D * width * height floats. Cells no tile covered are NaN
  // in every plane (in every mode, Count included). Can be called repeatedly.
  void finish(float* out) const;
  std::vector<float> finish() const;

  // Number of tiles added so far that covered cell (x, y) of the window
  // (window coordinates, not relative); 0 outside the window.
  int coverage(int x, int y) const;

 private:
  struct Tile {
    CellRect cells;
    int order;
    const float* grid;
  };
  size_t cellCount() const;
  // The D values of window cell (x, y) from the tiles `covering` (indices
  // into tiles_, in the order they were added), into value[0..D).
  void blendCell(int x, int y, const std::vector<size_t>& covering, double* sum,
                 float* value) const;

  BlendMode mode_;
  CellRect window_;
  int features_;
  // The tiles added, in the order they came; they are combined cell by cell
  // in finish(), so no window-sized accumulators exist (a strip of a
  // 768-feature model would need D doubles per cell).
  std::vector<Tile> tiles_;
};

}  // namespace vitfeat
