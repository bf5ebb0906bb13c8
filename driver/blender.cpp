#include "driver/blender.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace vitfeat {

namespace {

struct ModeName {
  BlendMode mode;
  const char* name;
};

// Single source of truth for names, parsing and the error message's list.
constexpr std::array<ModeName, 10> kModes{{
    {BlendMode::First, "first"},
    {BlendMode::Last, "last"},
    {BlendMode::Average, "average"},
    {BlendMode::Min, "min"},
    {BlendMode::Max, "max"},
    {BlendMode::Sum, "sum"},
    {BlendMode::Count, "count"},
    {BlendMode::Center, "center"},
    {BlendMode::Linear, "linear"},
    {BlendMode::Cosine, "cosine"},
}};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

constexpr double kPi = 3.14159265358979323846;

}  // namespace

BlendMode parseBlendMode(std::string_view name) {
  for (const ModeName& m : kModes) {
    if (equalsIgnoreCase(name, m.name)) return m.mode;
  }
  throw std::invalid_argument("unknown BLEND mode '" + std::string(name) +
                              "'; valid modes: " + blendModeList());
}

const char* blendModeName(BlendMode mode) {
  for (const ModeName& m : kModes) {
    if (m.mode == mode) return m.name;
  }
  return "unknown";
}

std::string blendModeList() {
  std::string list;
  for (const ModeName& m : kModes) {
    if (!list.empty()) list += ", ";
    list += m.name;
  }
  return list;
}

double blendAxisWeight(BlendMode mode, int j, int g) {
  const double u = (j + 0.5) / g;
  switch (mode) {
    case BlendMode::Linear:
      return 1.0 - std::abs(2.0 * u - 1.0);
    case BlendMode::Cosine: {
      const double s = std::sin(kPi * u);
      return s * s;
    }
    default:
      return 1.0;
  }
}

Blender::Blender(BlendMode mode, const CellRect& window, int features)
    : mode_(mode), window_(window), features_(features) {
  if (features <= 0) {
    throw std::invalid_argument("Blender: feature count " + std::to_string(features) +
                                " is invalid: it must be > 0");
  }
  if (window.width < 0 || window.height < 0) {
    throw std::invalid_argument("Blender: window size " + std::to_string(window.width) + " x " +
                                std::to_string(window.height) + " is invalid: it must be >= 0");
  }
}

size_t Blender::cellCount() const {
  return window_.empty() ? 0 : static_cast<size_t>(window_.width) * window_.height;
}

void Blender::add(const CellRect& tileCells, int order, const float* grid) {
  if (tileCells.width <= 0 || tileCells.width != tileCells.height) {
    throw std::invalid_argument("Blender: tile cells " + std::to_string(tileCells.width) + " x " +
                                std::to_string(tileCells.height) +
                                " are invalid: a tile grid must be square and non-empty");
  }
  if (grid == nullptr) throw std::invalid_argument("Blender: tile grid is null");
  if (window_.intersect(tileCells).empty()) return;
  tiles_.push_back({tileCells, order, grid});
}

void Blender::blendCell(int x, int y, const std::vector<size_t>& covering, double* sum,
                        float* value) const {
  const size_t D = static_cast<size_t>(features_);
  // Cell (x, y) in tile t: its row and column, and its D values.
  const auto row = [&](const Tile& t) { return y - t.cells.y0; };
  const auto col = [&](const Tile& t) { return x - t.cells.x0; };
  const auto source = [&](const Tile& t) {
    return t.grid + (static_cast<size_t>(row(t)) * t.cells.width + col(t)) * D;
  };
  switch (mode_) {
    case BlendMode::Sum:
    case BlendMode::Average: {
      std::fill(sum, sum + D, 0.0);
      for (const size_t i : covering) {
        const float* src = source(tiles_[i]);
        for (size_t d = 0; d < D; ++d) sum[d] += src[d];
      }
      const int n = static_cast<int>(covering.size());
      for (size_t d = 0; d < D; ++d)
        value[d] = static_cast<float>(mode_ == BlendMode::Sum ? sum[d] : sum[d] / n);
      return;
    }
    case BlendMode::Linear:
    case BlendMode::Cosine: {
      // The window is separable: w(row, col) = w(row) * w(col).
      std::fill(sum, sum + D, 0.0);
      double weight = 0.0;
      for (const size_t i : covering) {
        const Tile& t = tiles_[i];
        const int g = t.cells.width;
        const double w = blendAxisWeight(mode_, row(t), g) * blendAxisWeight(mode_, col(t), g);
        const float* src = source(t);
        for (size_t d = 0; d < D; ++d) sum[d] += w * src[d];
        weight += w;
      }
      for (size_t d = 0; d < D; ++d) value[d] = static_cast<float>(sum[d] / weight);
      return;
    }
    case BlendMode::Min:
    case BlendMode::Max: {
      std::copy_n(source(tiles_[covering[0]]), D, value);
      for (size_t k = 1; k < covering.size(); ++k) {
        const float* src = source(tiles_[covering[k]]);
        if (mode_ == BlendMode::Min) {
          for (size_t d = 0; d < D; ++d) value[d] = std::min(value[d], src[d]);
        } else {
          for (size_t d = 0; d < D; ++d) value[d] = std::max(value[d], src[d]);
        }
      }
      return;
    }
    case BlendMode::First:
    case BlendMode::Last:
    case BlendMode::Center: {
      // Select by (distance, order), so the result is the same whatever order
      // tiles were added in.
      const auto distance = [&](const Tile& t) -> std::int64_t {
        if (mode_ != BlendMode::Center) return 0;
        // Cell centre minus tile centre, in half cells: (2 col + 1) - g.
        const std::int64_t dx = 2 * static_cast<std::int64_t>(col(t)) + 1 - t.cells.width;
        const std::int64_t dy = 2 * static_cast<std::int64_t>(row(t)) + 1 - t.cells.width;
        return dx * dx + dy * dy;
      };
      const Tile* best = &tiles_[covering[0]];
      std::int64_t bestDistance = distance(*best);
      for (size_t k = 1; k < covering.size(); ++k) {
        const Tile& t = tiles_[covering[k]];
        const std::int64_t dist = distance(t);
        bool beats = false;
        if (mode_ == BlendMode::First) {
          beats = t.order < best->order;
        } else if (mode_ == BlendMode::Last) {
          beats = t.order > best->order;
        } else {
          // Nearest centre wins; equal distances go to the lowest order number.
          beats = dist < bestDistance || (dist == bestDistance && t.order < best->order);
        }
        if (beats) {
          best = &t;
          bestDistance = dist;
        }
      }
      std::copy_n(source(*best), D, value);
      return;
    }
    case BlendMode::Count:
    default:
      std::fill(value, value + D, static_cast<float>(covering.size()));
      return;
  }
}

namespace {

// Cells of a row blended together before they are written into the planes:
// the output is band-sequential ([D][cell]) while a cell's values come
// together ([cell][D]); a block of this many cells (768 features: 96 KiB)
// stays in cache while every plane takes its part.
constexpr int kBlockCells = 32;

}  // namespace

void Blender::finish(float* out) const {
  const size_t cells = cellCount();
  const size_t D = static_cast<size_t>(features_);
  if (cells == 0) return;
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  std::vector<double> sum(D);
  std::vector<float> block(static_cast<size_t>(kBlockCells) * D);
  std::vector<size_t> rowTiles, covering;  // indices into tiles_, in the order added
  for (int y = window_.y0; y < window_.y1(); ++y) {
    rowTiles.clear();
    for (size_t i = 0; i < tiles_.size(); ++i)
      if (y >= tiles_[i].cells.y0 && y < tiles_[i].cells.y1()) rowTiles.push_back(i);
    for (int x0 = window_.x0; x0 < window_.x1(); x0 += kBlockCells) {
      const int n = std::min(kBlockCells, window_.x1() - x0);
      for (int k = 0; k < n; ++k) {
        const int x = x0 + k;
        covering.clear();
        for (const size_t i : rowTiles)
          if (x >= tiles_[i].cells.x0 && x < tiles_[i].cells.x1()) covering.push_back(i);
        float* value = &block[static_cast<size_t>(k) * D];
        if (covering.empty())
          std::fill(value, value + D, kNaN);
        else
          blendCell(x, y, covering, sum.data(), value);
      }
      const size_t at = static_cast<size_t>(y - window_.y0) * window_.width + (x0 - window_.x0);
      for (size_t d = 0; d < D; ++d) {
        float* plane = out + d * cells + at;
        for (int k = 0; k < n; ++k) plane[k] = block[static_cast<size_t>(k) * D + d];
      }
    }
  }
}

std::vector<float> Blender::finish() const {
  std::vector<float> out(cellCount() * static_cast<size_t>(features_));
  finish(out.data());
  return out;
}

int Blender::coverage(int x, int y) const {
  if (!window_.contains(x, y)) return 0;
  return static_cast<int>(std::count_if(tiles_.begin(), tiles_.end(),
                                        [&](const Tile& t) { return t.cells.contains(x, y); }));
}

}  // namespace vitfeat
