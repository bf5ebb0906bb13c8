// A seeded random generator whose sequences are the same on every platform and
// standard library (std::uniform_*_distribution are implementation-defined), so
// fits and samples are reproducible across processes and machines.
#pragma once

#include <cstdint>
#include <vector>

namespace vitfeat::math {

class Random {
 public:
  explicit Random(uint64_t seed);
  uint64_t next();                 // 64 uniformly random bits
  uint64_t below(uint64_t bound);  // uniform in [0, bound), bound > 0, unbiased
  double uniform();                // uniform in [0, 1)
  // k distinct indices of [0, n), in increasing order (k <= n).
  std::vector<uint64_t> choose(uint64_t n, uint64_t k);
  // A uniformly random permutation of [0, n).
  std::vector<uint64_t> permutation(uint64_t n);

 private:
  uint64_t state_[4];
};

}  // namespace vitfeat::math
