#include "pixelfunctions/random.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace vitfeat::math {

namespace {

// splitmix64 spreads one 64-bit seed over xoshiro's 256-bit state: nearby seeds
// (0, 1, 2, ...) give unrelated streams and the state is never all zero.
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Random::Random(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : state_) s = splitmix64(x);
}

// xoshiro256** (Blackman & Vigna): fast, 256 bits of state, good in every bit.
uint64_t Random::next() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

uint64_t Random::below(uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("Random::below: bound 0 is invalid: it must be > 0");
  // 2^64 mod bound values at the bottom of the range would make the low
  // residues more likely than the others; rejecting them leaves every residue
  // exactly (2^64 - threshold) / bound ways to occur.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = next();
    if (r >= threshold) return r % bound;
  }
}

double Random::uniform() {
  // The top 53 bits fill a double's mantissa exactly: every value k / 2^53.
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

std::vector<uint64_t> Random::choose(uint64_t n, uint64_t k) {
  if (k > n) {
    throw std::invalid_argument("Random::choose: cannot choose " + std::to_string(k) +
                                " distinct indices of " + std::to_string(n) + ": k must be <= n");
  }
  // Floyd's algorithm: k draws, each adding exactly one new index, every
  // k-subset equally likely. The chosen set depends only on the draws, so the
  // dense (bitmap) and sparse (hash set) bookkeeping below give the same result
  // for a seed; the bitmap avoids hashing when a large share of n is chosen.
  std::vector<uint64_t> chosen;
  chosen.reserve(static_cast<size_t>(k));
  if (k == 0) return chosen;
  if (k >= n / 16) {
    std::vector<bool> taken(static_cast<size_t>(n), false);
    for (uint64_t j = n - k; j < n; ++j) {
      const uint64_t t = below(j + 1);
      taken[static_cast<size_t>(taken[static_cast<size_t>(t)] ? j : t)] = true;
    }
    for (uint64_t i = 0; i < n; ++i) {
      if (taken[static_cast<size_t>(i)]) chosen.push_back(i);
    }
    return chosen;
  }
  std::unordered_set<uint64_t> taken;
  taken.reserve(static_cast<size_t>(k) * 2);
  for (uint64_t j = n - k; j < n; ++j) {
    const uint64_t t = below(j + 1);
    const uint64_t pick = taken.count(t) ? j : t;
    taken.insert(pick);
    chosen.push_back(pick);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

std::vector<uint64_t> Random::permutation(uint64_t n) {
  std::vector<uint64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), uint64_t{0});
  // Fisher-Yates with below(): every permutation equally likely (modulo
  // reduction would bias it).
  for (uint64_t i = n; i > 1; --i) {
    const uint64_t j = below(i);
    std::swap(p[static_cast<size_t>(i - 1)], p[static_cast<size_t>(j)]);
  }
  return p;
}

}  // namespace vitfeat::math
