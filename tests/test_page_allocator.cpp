// driver/page_allocator.h: buffers of 128 KiB and more in pages of their own
// (returned to the system when freed), smaller ones from the heap; both keep
// what is written to them and are 64-byte aligned.
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "driver/page_allocator.h"

using vitfeat::PageAllocator;

namespace {

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

}  // namespace

TEST_CASE("page allocator: small and large buffers keep their values and alignment") {
  for (const std::size_t n : {std::size_t(1), std::size_t(20), std::size_t(32 << 10),
                              std::size_t(40 << 10), std::size_t(1 << 20)}) {
    std::vector<float, PageAllocator<float>> v(n);
    REQUIRE(aligned64(v.data()));
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 1000);
    std::vector<float, PageAllocator<float>> copy = v;
    bool same = true;
    for (std::size_t i = 0; i < n; ++i) same = same && copy[i] == static_cast<float>(i % 1000);
    CHECK(same);
  }
}

TEST_CASE("page allocator: a large buffer leaves the process when freed") {
#if defined(__linux__)
  // glibc serves a request this size from its heap once a larger mapped block
  // was freed (its threshold adapts); then freeing keeps the pages.
  std::free(std::malloc(std::size_t(8) << 20));
  const std::size_t bytes = std::size_t(256) << 10;
  float* p = PageAllocator<float>().allocate(bytes / sizeof(float));
  p[0] = 1;
  p[bytes / sizeof(float) - 1] = 2;
  const long page = sysconf(_SC_PAGESIZE);
  void* first = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) / page * page);
  // msync fails with ENOMEM on a range that is not mapped.
  CHECK(msync(first, bytes, MS_ASYNC) == 0);
  PageAllocator<float>().deallocate(p, bytes / sizeof(float));
  errno = 0;
  CHECK(msync(first, bytes, MS_ASYNC) == -1);
  CHECK(errno == ENOMEM);
#else
  SUCCEED("checked on Linux only");
#endif
}
