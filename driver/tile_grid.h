// The tiling of an input raster into model tiles and of the output raster into
// feature cells. Pure integer geometry, no GDAL: the driver, the blender and the
// cache all agree on tile identities and cell rectangles through this class.
//
// Units: a "cell" is one output pixel (one token of the model), covering
// c x c input pixels, c = TILE_SIZE / cells per tile side. Inside the grid
// everything is expressed in cells so that all arithmetic is exact.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace vitfeat {

// Half-open rectangle [x0, x0 + width) x [y0, y0 + height), in cells (or in
// pixels for PixelWindow). Empty when width or height is <= 0.
struct CellRect {
  int x0 = 0;
  int y0 = 0;
  int width = 0;
  int height = 0;

  int x1() const { return x0 + width; }
  int y1() const { return y0 + height; }
  bool empty() const { return width <= 0 || height <= 0; }
  bool contains(int x, int y) const { return x >= x0 && x < x1() && y >= y0 && y < y1(); }
  // The overlap of two rectangles; empty (width/height 0) when they do not meet.
  CellRect intersect(const CellRect& other) const;
  bool operator==(const CellRect& o) const {
    return x0 == o.x0 && y0 == o.y0 && width == o.width && height == o.height;
  }
  bool operator!=(const CellRect& o) const { return !(*this == o); }
};

// A window of input pixels read for one tile. Same half-open convention as
// CellRect; it may extend past the raster's right/bottom edge (the reader pads).
using PixelWindow = CellRect;

// A tile's position on the tile grid: column ix in [0, tilesX), row iy in [0, tilesY).
struct TileIndex {
  int ix = 0;
  int iy = 0;
  bool operator==(const TileIndex& o) const { return ix == o.ix && iy == o.iy; }
  bool operator!=(const TileIndex& o) const { return !(*this == o); }
};

class TileGrid {
 public:
  // rasterWidth/rasterHeight: input raster size in pixels (> 0).
  // tileSize T: input pixels per tile side (> 0, a multiple of cellsPerTile).
  // stride S: distance between tile origins in pixels (a multiple of the cell
  //   size c = T / cellsPerTile, with 0 < S <= T).
  // cellsPerTile g: feature cells per tile side (tokens per side of the model).
  // Throws std::invalid_argument naming the offending value and the valid range.
  TileGrid(int rasterWidth, int rasterHeight, int tileSize, int stride, int cellsPerTile);

  int rasterWidth() const { return rasterWidth_; }
  int rasterHeight() const { return rasterHeight_; }
  int tileSize() const { return tileSize_; }          // T, pixels
  int stride() const { return stride_; }              // S, pixels
  int cellsPerTile() const { return cellsPerTile_; }  // g
  int cellSize() const { return cellSize_; }          // c = T / g, pixels
  int strideCells() const { return stride_ / cellSize_; }

  // Output raster size in cells: ceil(W / c) x ceil(H / c).
  int cellsX() const { return cellsX_; }
  int cellsY() const { return cellsY_; }
  CellRect cellBounds() const { return {0, 0, cellsX_, cellsY_}; }

  int tilesX() const { return static_cast<int>(originsX_.size()); }
  int tilesY() const { return static_cast<int>(originsY_.size()); }
  int tileCount() const { return tilesX() * tilesY(); }

  // Tile origins along each axis, ascending, in cells and in pixels.
  const std::vector<int>& originsXCells() const { return originsX_; }
  const std::vector<int>& originsYCells() const { return originsY_; }
  std::vector<int> originsXPixels() const;
  std::vector<int> originsYPixels() const;

  // Row-major order number, iy * tilesX + ix. Defines "first" and "last" for
  // blending, so it must never depend on the order tiles are computed in.
  int order(const TileIndex& t) const { return t.iy * tilesX() + t.ix; }
  TileIndex tileAt(int order) const;  // inverse of order(); throws std::out_of_range
  bool valid(const TileIndex& t) const {
    return t.ix >= 0 && t.ix < tilesX() && t.iy >= 0 && t.iy < tilesY();
  }

  // The g x g cells a tile produces. For a raster smaller than one tile this
  // extends past cellBounds(): those cells come from padding and are never output.
  CellRect tileCells(const TileIndex& t) const;
  // The T x T input pixels a tile reads (origin in pixels + T; may pass the edge).
  PixelWindow tilePixels(const TileIndex& t) const;

  // Tiles whose cells intersect `cells`, in row-major (order()) order. Uses a
  // binary search per axis, so the cost is independent of the tile count.
  std::vector<TileIndex> tilesCovering(const CellRect& cells) const;

 private:
  // Index range [first, last) into `origins` of tiles meeting cells [a, b).
  std::pair<int, int> axisRange(const std::vector<int>& origins, int a, int b) const;

  int rasterWidth_;
  int rasterHeight_;
  int tileSize_;
  int stride_;
  int cellsPerTile_;
  int cellSize_;
  int cellsX_;
  int cellsY_;
  std::vector<int> originsX_;
  std::vector<int> originsY_;
};

}  // namespace vitfeat
