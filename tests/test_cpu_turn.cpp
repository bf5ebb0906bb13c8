// Who waits for whom: CpuTurn (one CPU model call at a time, in the process
// and across processes) and InFlightTiles (a tile being computed by one handle
// is waited for by the others).
#include <cpl_conv.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "driver/cpu_turn.h"
#include "driver/in_flight_tiles.h"
#include "tests/support/fixtures.h"

using namespace vitfeat;
using namespace std::chrono_literals;

namespace {

// Whether `taken` becomes ready within `within`.
bool readyWithin(const std::future<void>& taken, std::chrono::milliseconds within) {
  return taken.wait_for(within) == std::future_status::ready;
}

}  // namespace

TEST_CASE("cpu turn: threads of one process take turns", "[cpu_turn]") {
  test::ScopedConfig mode("VITFEAT_CPU_LOCK", "PROCESS");
  std::promise<void> release;
  std::promise<void> first;
  std::thread holder([&] {
    const CpuTurn turn;
    first.set_value();
    release.get_future().wait();
  });
  first.get_future().wait();
  auto taken = std::async(std::launch::async, [] { const CpuTurn turn; });
  CHECK_FALSE(readyWithin(taken, 200ms));
  release.set_value();
  CHECK(readyWithin(taken, 5000ms));
  holder.join();
}

TEST_CASE("cpu turn: SYSTEM waits for a lock held through another open file", "[cpu_turn]") {
  // flock() locks of two open file descriptions conflict as those of two
  // processes do, so a descriptor opened here stands for another process.
  test::TempDir dir;
  const std::string path = dir.file("cpu.lock");
  test::ScopedConfig file("VITFEAT_CPU_LOCK_FILE", path.c_str());
  const int other = open(path.c_str(), O_RDWR | O_CREAT, 0600);
  REQUIRE(other >= 0);
  REQUIRE(flock(other, LOCK_EX) == 0);

  SECTION("the default waits for the other process") {
    auto taken = std::async(std::launch::async, [] { const CpuTurn turn; });
    CHECK_FALSE(readyWithin(taken, 300ms));
    flock(other, LOCK_UN);
    CHECK(readyWithin(taken, 5000ms));
    // And the other process waits while this one holds its turn.
    std::promise<void> release, held;
    std::thread holder([&] {
      const CpuTurn turn;
      held.set_value();
      release.get_future().wait();
    });
    held.get_future().wait();
    CHECK(flock(other, LOCK_EX | LOCK_NB) != 0);
    release.set_value();
    holder.join();
    CHECK(flock(other, LOCK_EX | LOCK_NB) == 0);
  }
  SECTION("PROCESS and NO do not") {
    const char* value = GENERATE("PROCESS", "NO");
    test::ScopedConfig mode("VITFEAT_CPU_LOCK", value);
    auto taken = std::async(std::launch::async, [] { const CpuTurn turn; });
    CHECK(readyWithin(taken, 5000ms));
  }
  close(other);
}

TEST_CASE("cpu turn: an unopenable lock file falls back to the process", "[cpu_turn]") {
  test::ScopedConfig file("VITFEAT_CPU_LOCK_FILE", "/nonexistent-dir/vitfeat.lock");
  auto taken = std::async(std::launch::async, [] { const CpuTurn turn; });
  CHECK(readyWithin(taken, 5000ms));
}

TEST_CASE("in-flight tiles: one claim per key, waiters wake when it is done", "[cpu_turn]") {
  InFlightTiles registry;
  const TileKey a{"config", 1, 2}, b{"config", 2, 1};
  CHECK(registry.claim(a));
  CHECK_FALSE(registry.claim(a));
  CHECK(registry.claim(b));               // another key is independent
  registry.wait(TileKey{"other", 1, 2});  // nothing in flight: returns at once

  auto waiter = std::async(std::launch::async, [&] { registry.wait(a); });
  CHECK_FALSE(readyWithin(waiter, 200ms));
  registry.done(a);
  CHECK(readyWithin(waiter, 5000ms));
  CHECK(registry.claim(a));  // free again
  registry.done(a);
  registry.done(b);
}

TEST_CASE("in-flight tiles: claims are released however the computation ends", "[cpu_turn]") {
  InFlightTiles registry;
  const TileKey a{"config", 0, 0}, b{"config", 0, 1};
  std::future<void> waiter;
  try {
    TileClaims claims(&registry);
    CHECK(claims.claim(a));
    CHECK(claims.claim(b));
    CHECK_FALSE(claims.claim(a));
    waiter = std::async(std::launch::async, [&] { registry.wait(b); });
    CHECK_FALSE(readyWithin(waiter, 200ms));
    throw std::runtime_error("the model failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(readyWithin(waiter, 5000ms));
  CHECK(registry.claim(a));
  CHECK(registry.claim(b));
}
