// LruTileCache: recency order, byte-bounded eviction, oversize tiles, counters
// and a concurrent smoke test.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "driver/tile_cache.h"

using vitfeat::LruTileCache;
using vitfeat::TileCache;
using vitfeat::TileCacheStats;
using vitfeat::TileFeatures;
using vitfeat::TileKey;
using vitfeat::TilePtr;

namespace {

// A g x g x 1 tile filled with `value`: 4 * g * g payload bytes.
TilePtr makeTile(int g, float value) {
  auto tile = std::make_shared<TileFeatures>(g, 1);
  std::fill(tile->grid.begin(), tile->grid.end(), value);
  return tile;
}

TileKey key(int ix, int iy = 0, const std::string& config = "cfg") { return {config, ix, iy}; }

constexpr std::size_t kSmall = 16;  // bytes of a g = 2, D = 1 tile

}  // namespace

TEST_CASE("tile_cache: TileFeatures layout and size", "[tile_cache]") {
  TileFeatures t(2, 3);
  CHECK(t.grid.size() == 12u);
  CHECK(t.bytes() == 48u);
  t.at(1, 0, 2) = 7.0f;  // ((1 * 2) + 0) * 3 + 2 = 8
  CHECK(t.grid[8] == 7.0f);
  t.valid.assign(4, 1);  // the optional [g][g] validity mask is charged too
  CHECK(t.bytes() == 48u + 4u);
  CHECK_THROWS_AS(TileFeatures(0, 3), std::invalid_argument);
  CHECK(makeTile(2, 1.0f)->bytes() == kSmall);
}

TEST_CASE("tile_cache: LruTileCache capacity from CACHE_MB", "[tile_cache]") {
  CHECK(LruTileCache::bytesFromMegabytes(1) == 1048576u);
  CHECK(LruTileCache::bytesFromMegabytes(0.5) == 524288u);
  CHECK(LruTileCache::bytesFromMegabytes(0) == 0u);
  CHECK_THROWS_AS(LruTileCache::bytesFromMegabytes(-1), std::invalid_argument);
  CHECK(LruTileCache(123).capacity() == 123u);
}

TEST_CASE("tile_cache: LruTileCache get refreshes recency and the least recently used is evicted",
          "[tile_cache]") {
  LruTileCache cache(3 * kSmall);
  cache.put(key(0), makeTile(2, 0));
  cache.put(key(1), makeTile(2, 1));
  cache.put(key(2), makeTile(2, 2));
  // Recency now (most recent first): 2, 1, 0. Touch 0: 0, 2, 1.
  REQUIRE(cache.get(key(0)) != nullptr);
  cache.put(key(3), makeTile(2, 3));  // evicts 1, the least recently used
  CHECK(cache.get(key(1)) == nullptr);
  CHECK(cache.get(key(0))->grid[0] == 0.0f);
  CHECK(cache.get(key(2))->grid[0] == 2.0f);
  CHECK(cache.get(key(3))->grid[0] == 3.0f);
  // Recency: 3, 2, 0. The next insertion evicts 0.
  cache.put(key(4), makeTile(2, 4));
  CHECK(cache.get(key(0)) == nullptr);
  CHECK(cache.get(key(2)) != nullptr);

  const TileCacheStats s = cache.stats();
  CHECK(s.evictions == 2u);
  CHECK(s.entries == 3u);
  CHECK(s.bytes == 3 * kSmall);
}

TEST_CASE("tile_cache: LruTileCache eviction is by bytes and evicts as many tiles as needed",
          "[tile_cache]") {
  LruTileCache cache(100);
  cache.put(key(0), makeTile(2, 0));  // 16
  cache.put(key(1), makeTile(2, 1));  // 32
  cache.put(key(2), makeTile(2, 2));  // 48
  cache.put(key(3), makeTile(4, 3));  // + 64 = 112 > 100: evict 0 -> 96
  CHECK(cache.get(key(0)) == nullptr);
  CHECK(cache.stats().bytes == 96u);
  CHECK(cache.stats().evictions == 1u);

  // 80 bytes need 96 + 80 - 100 = 76 freed: 1 (16), 2 (16), then 3 (64).
  cache.put(key(5), std::make_shared<TileFeatures>(2, 5));  // 2 * 2 * 5 * 4 = 80
  const TileCacheStats s = cache.stats();
  CHECK(s.bytes == 80u);
  CHECK(s.entries == 1u);
  CHECK(s.evictions == 4u);
  CHECK(cache.get(key(5)) != nullptr);
}

TEST_CASE("tile_cache: LruTileCache a tile larger than the capacity is not stored",
          "[tile_cache]") {
  LruTileCache cache(32);
  cache.put(key(0), makeTile(2, 0));
  const TilePtr big = makeTile(4, 9);  // 64 bytes
  CHECK_FALSE(cache.put(key(1), big));
  CHECK(big->grid[0] == 9.0f);  // the computing caller still has it
  CHECK(cache.get(key(1)) == nullptr);
  CHECK(cache.get(key(0)) != nullptr);  // and nothing was evicted for it
  TileCacheStats s = cache.stats();
  CHECK(s.rejected == 1u);
  CHECK(s.evictions == 0u);
  CHECK(s.insertions == 1u);
  CHECK(s.bytes == kSmall);

  // A new, oversize value for a cached key drops the old value: the cache must
  // never serve a value its owner has replaced.
  CHECK_FALSE(cache.put(key(0), big));
  CHECK(cache.get(key(0)) == nullptr);
  CHECK(cache.stats().bytes == 0u);

  LruTileCache none(0);
  CHECK_FALSE(none.put(key(0), makeTile(1, 0)));
  CHECK(none.stats().entries == 0u);
}

TEST_CASE("tile_cache: LruTileCache counters and replacement and configuration keys",
          "[tile_cache]") {
  LruTileCache cache(10 * kSmall);
  CHECK(cache.get(key(0)) == nullptr);
  CHECK(cache.put(key(0), makeTile(2, 1)));
  CHECK(cache.get(key(0)) != nullptr);
  CHECK(cache.get(key(0)) != nullptr);
  // Same indices, other configuration (another dataset or model): a distinct tile.
  CHECK(cache.get(key(0, 0, "other")) == nullptr);
  CHECK(cache.get(key(0, 1)) == nullptr);

  // Replacing a key keeps one entry, re-charges its bytes and is no eviction.
  CHECK(cache.put(key(0), makeTile(4, 2)));
  CHECK(cache.get(key(0))->grid[0] == 2.0f);

  TileCacheStats s = cache.stats();
  CHECK(s.hits == 3u);
  CHECK(s.misses == 3u);
  CHECK(s.insertions == 2u);
  CHECK(s.evictions == 0u);
  CHECK(s.entries == 1u);
  CHECK(s.bytes == 64u);
  CHECK(s.capacity == 10 * kSmall);

  // clear() empties the cache but keeps the history counters.
  cache.clear();
  s = cache.stats();
  CHECK(s.entries == 0u);
  CHECK(s.bytes == 0u);
  CHECK(s.hits == 3u);
  CHECK(cache.get(key(0)) == nullptr);

  CHECK_THROWS_AS(cache.put(key(0), nullptr), std::invalid_argument);
}

TEST_CASE(
    "tile_cache: LruTileCache evicted tiles stay valid for their holders and shrinking evicts",
    "[tile_cache]") {
  LruTileCache cache(2 * kSmall);
  cache.put(key(0), makeTile(2, 5));
  const TilePtr held = cache.get(key(0));
  cache.put(key(1), makeTile(2, 1));
  cache.put(key(2), makeTile(2, 2));  // evicts 0
  CHECK(cache.get(key(0)) == nullptr);
  CHECK(held->grid[3] == 5.0f);

  cache.setCapacity(kSmall);  // keeps only the most recent (2)
  CHECK(cache.capacity() == kSmall);
  CHECK(cache.stats().entries == 1u);
  CHECK(cache.get(key(2)) != nullptr);
  CHECK(cache.get(key(1)) == nullptr);
}

TEST_CASE("tile_cache: LruTileCache works through the TileCache interface", "[tile_cache]") {
  const std::shared_ptr<TileCache> shared = std::make_shared<LruTileCache>(4 * kSmall);
  // Two "dataset handles" sharing the process-wide cache.
  const std::shared_ptr<TileCache> a = shared;
  const std::shared_ptr<TileCache> b = shared;
  a->put(key(0, 0, "dsA"), makeTile(2, 1));
  b->put(key(0, 0, "dsB"), makeTile(2, 2));
  CHECK(b->get(key(0, 0, "dsA"))->grid[0] == 1.0f);
  CHECK(a->get(key(0, 0, "dsB"))->grid[0] == 2.0f);
  CHECK(shared->stats().entries == 2u);
}

TEST_CASE("tile_cache: LruTileCache concurrent get/put from 4 threads", "[tile_cache]") {
  // 64 distinct keys over 2 configurations, room for 16 tiles: constant
  // churn of hits, misses, insertions and evictions. Each tile's content
  // encodes its key so a torn or mixed-up entry would be noticed.
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  constexpr int g = 4;
  const std::size_t tileBytes = TileFeatures(g, 2).bytes();
  LruTileCache cache(16 * tileBytes);
  std::atomic<std::uint64_t> gets{0};
  std::atomic<int> wrong{0};

  auto valueFor = [](const TileKey& k) {
    return static_cast<float>(k.ix * 100 + k.iy * 10 + (k.config == "b" ? 1 : 0));
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) + 1u);
      std::uniform_int_distribution<int> pick(0, 63);
      for (int i = 0; i < kIterations; ++i) {
        const int n = pick(rng);
        const TileKey k{(n & 1) ? "b" : "a", (n >> 1) & 7, n >> 4};
        ++gets;
        TilePtr tile = cache.get(k);
        if (!tile) {
          // Compute outside the cache (as the driver runs the model), then publish.
          auto fresh = std::make_shared<TileFeatures>(g, 2);
          std::fill(fresh->grid.begin(), fresh->grid.end(), valueFor(k));
          cache.put(k, fresh);
          tile = std::move(fresh);
        }
        if (tile->grid.front() != valueFor(k) || tile->grid.back() != valueFor(k)) ++wrong;
        if (i % 5000 == 0) (void)cache.stats();
      }
    });
  }
  for (auto& th : threads) th.join();

  const TileCacheStats s = cache.stats();
  CHECK(wrong.load() == 0);
  CHECK(s.hits + s.misses == gets.load());
  CHECK(s.insertions == s.misses);  // every miss published its tile once
  CHECK(s.hits > 0u);
  CHECK(s.evictions > 0u);
  CHECK(s.bytes <= s.capacity);
  CHECK(s.bytes == s.entries * tileBytes);
  CHECK(s.entries <= 16u);
  // Each insertion either is still cached, was evicted, or replaced a value
  // another thread published for the same key between its miss and its put.
  CHECK(s.insertions >= s.entries + s.evictions);
}
