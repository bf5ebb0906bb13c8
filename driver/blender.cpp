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

bool isWeighted(BlendMode m) { return m == BlendMode::Linear || m == BlendMode::Cosine; }
bool isSummed(BlendMode m) {
  return m == BlendMode::Sum || m == BlendMode::Average || isWeighted(m);
}
bool isSelecting(BlendMode m) {
  return m == BlendMode::First || m == BlendMode::Last || m == BlendMode::Center ||
         m == BlendMode::Min || m == BlendMode::Max;
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
  const size_t cells = cellCount();
  const size_t values = cells * static_cast<size_t>(features_);
  // Only the accumulators the mode needs are allocated: a window of a
  // 768-feature model is large.
  count_.assign(cells, 0);
  if (isSummed(mode_)) sum_.assign(values, 0.0);
  if (isSelecting(mode_)) value_.assign(values, 0.0f);
  if (isWeighted(mode_)) weight_.assign(cells, 0.0);
  if (mode_ == BlendMode::First || mode_ == BlendMode::Last || mode_ == BlendMode::Center) {
    bestOrder_.assign(cells, 0);
  }
  if (mode_ == BlendMode::Center) bestDistance_.assign(cells, 0);
}

size_t Blender::cellCount() const {
  return window_.empty() ? 0 : static_cast<size_t>(window_.width) * window_.height;
}

template <typename Op>
void Blender::forEachCell(const CellRect& tileCells, Op&& op) const {
  const CellRect overlap = window_.intersect(tileCells);
  if (overlap.empty()) return;
  for (int y = overlap.y0; y < overlap.y1(); ++y) {
    const size_t rowBase = static_cast<size_t>(y - window_.y0) * window_.width;
    for (int x = overlap.x0; x < overlap.x1(); ++x) {
      op(rowBase + static_cast<size_t>(x - window_.x0), y - tileCells.y0, x - tileCells.x0);
    }
  }
}

void Blender::add(const CellRect& tileCells, int order, const float* grid) {
  if (tileCells.width <= 0 || tileCells.width != tileCells.height) {
    throw std::invalid_argument("Blender: tile cells " + std::to_string(tileCells.width) + " x " +
                                std::to_string(tileCells.height) +
                                " are invalid: a tile grid must be square and non-empty");
  }
  if (grid == nullptr) throw std::invalid_argument("Blender: tile grid is null");

  if (isWeighted(mode_)) {
    addWeighted(tileCells, grid);
    return;
  }

  const int g = tileCells.width;
  const size_t D = static_cast<size_t>(features_);
  auto source = [&](int row, int col) {
    return grid + (static_cast<size_t>(row) * g + static_cast<size_t>(col)) * D;
  };

  forEachCell(tileCells, [&](size_t cell, int row, int col) {
    const float* src = source(row, col);
    const bool firstVisit = count_[cell] == 0;
    ++count_[cell];
    switch (mode_) {
      case BlendMode::Sum:
      case BlendMode::Average: {
        double* dst = &sum_[cell * D];
        for (size_t d = 0; d < D; ++d) dst[d] += src[d];
        break;
      }
      case BlendMode::Min:
      case BlendMode::Max: {
        float* dst = &value_[cell * D];
        if (firstVisit) {
          std::copy(src, src + D, dst);
        } else if (mode_ == BlendMode::Min) {
          for (size_t d = 0; d < D; ++d) dst[d] = std::min(dst[d], src[d]);
        } else {
          for (size_t d = 0; d < D; ++d) dst[d] = std::max(dst[d], src[d]);
        }
        break;
      }
      case BlendMode::First:
      case BlendMode::Last:
      case BlendMode::Center: {
        // Select by (distance, order) so the result is the same whatever order
        // tiles arrive in; the copy happens only when this tile wins.
        std::int64_t distance = 0;
        if (mode_ == BlendMode::Center) {
          // Cell centre minus tile centre, in half cells: (2 col + 1) - g.
          const std::int64_t dx = 2 * static_cast<std::int64_t>(col) + 1 - g;
          const std::int64_t dy = 2 * static_cast<std::int64_t>(row) + 1 - g;
          distance = dx * dx + dy * dy;
        }
        if (firstVisit || beats(cell, order, distance)) {
          bestOrder_[cell] = order;
          if (mode_ == BlendMode::Center) bestDistance_[cell] = distance;
          std::copy(src, src + D, &value_[cell * D]);
        }
        break;
      }
      case BlendMode::Count:
      default:
        break;
    }
  });
}

bool Blender::beats(size_t cell, int order, std::int64_t distance) const {
  switch (mode_) {
    case BlendMode::First:
      return order < bestOrder_[cell];
    case BlendMode::Last:
      return order > bestOrder_[cell];
    case BlendMode::Center:
      // Nearest centre wins; equal distances go to the lowest order number.
      return distance < bestDistance_[cell] ||
             (distance == bestDistance_[cell] && order < bestOrder_[cell]);
    default:
      return false;
  }
}

void Blender::addWeighted(const CellRect& tileCells, const float* grid) {
  const int g = tileCells.width;
  const size_t D = static_cast<size_t>(features_);
  // The window is separable: w(row, col) = w(row) * w(col).
  std::vector<double> axis(static_cast<size_t>(g));
  for (int j = 0; j < g; ++j) axis[static_cast<size_t>(j)] = blendAxisWeight(mode_, j, g);

  forEachCell(tileCells, [&](size_t cell, int row, int col) {
    const double w = axis[static_cast<size_t>(row)] * axis[static_cast<size_t>(col)];
    const float* src = grid + (static_cast<size_t>(row) * g + static_cast<size_t>(col)) * D;
    double* dst = &sum_[cell * D];
    for (size_t d = 0; d < D; ++d) dst[d] += w * src[d];
    weight_[cell] += w;
    ++count_[cell];
  });
}

namespace {

// Cells whose values are turned into planes together. The accumulators are
// cell-major ([cell][D]) and the output band-sequential ([D][cell]): going
// plane by plane over every cell reads one value per cache line of the
// accumulators and touched each line D / 8 times from memory (the largest
// cost of a read from CACHE_DIR, perf). A block of this many cells keeps its
// accumulators (D = 768 doubles: 192 KiB) in a core's L2 while every plane
// takes its values.
constexpr size_t kTransposeCells = 32;

// out[d * cells + cell] = count[cell] ? value(cell, cell * D + d) : NaN.
template <typename Value>
void writePlanes(size_t cells, size_t D, const std::vector<std::int32_t>& count, float* out,
                 Value&& value) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  for (size_t c0 = 0; c0 < cells; c0 += kTransposeCells) {
    const size_t c1 = std::min(cells, c0 + kTransposeCells);
    for (size_t d = 0; d < D; ++d) {
      float* plane = out + d * cells;
      for (size_t cell = c0; cell < c1; ++cell)
        plane[cell] = count[cell] == 0 ? kNaN : value(cell, cell * D + d);
    }
  }
}

}  // namespace

void Blender::finish(float* out) const {
  const size_t cells = cellCount();
  const size_t D = static_cast<size_t>(features_);
  switch (mode_) {
    case BlendMode::Sum:
      return writePlanes(cells, D, count_, out,
                         [&](size_t, size_t i) { return static_cast<float>(sum_[i]); });
    case BlendMode::Average:
      return writePlanes(cells, D, count_, out, [&](size_t cell, size_t i) {
        return static_cast<float>(sum_[i] / count_[cell]);
      });
    case BlendMode::Linear:
    case BlendMode::Cosine:
      return writePlanes(cells, D, count_, out, [&](size_t cell, size_t i) {
        return static_cast<float>(sum_[i] / weight_[cell]);
      });
    case BlendMode::Count:
      return writePlanes(cells, D, count_, out,
                         [&](size_t cell, size_t) { return static_cast<float>(count_[cell]); });
    default:
      return writePlanes(cells, D, count_, out, [&](size_t, size_t i) { return value_[i]; });
  }
}

std::vector<float> Blender::finish() const {
  std::vector<float> out(cellCount() * static_cast<size_t>(features_));
  finish(out.data());
  return out;
}

int Blender::coverage(int x, int y) const {
  if (!window_.contains(x, y)) return 0;
  return count_[static_cast<size_t>(y - window_.y0) * window_.width +
                static_cast<size_t>(x - window_.x0)];
}

}  // namespace vitfeat
