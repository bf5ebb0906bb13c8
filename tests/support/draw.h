// Deterministic uniforms and normals, the same on every platform:
// std::mt19937_64 is fully specified and the transforms are done here, not by
// the standard library's distributions (whose output is implementation-defined).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace vitfeat::test {

struct Draw {
  explicit Draw(uint64_t seed) : engine(seed) {}
  double uniform() { return (static_cast<double>(engine() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() { return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform()); }
  std::mt19937_64 engine;
};

}  // namespace vitfeat::test
