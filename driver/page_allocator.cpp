#include "driver/page_allocator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if __has_include(<sys/mman.h>)
#include <sys/mman.h>
#define VITFEAT_HAVE_MMAP 1
#endif

namespace vitfeat {

namespace {

// Smaller buffers come from the heap: pages of their own would waste most of
// a page each, and every mapping counts against the system's limit on them
// (vm.max_map_count, 65530 by default). At this size the number of mappings
// stays below CACHE_MB / 128 KiB. glibc maps requests of this size itself
// until its adaptive threshold moves up.
constexpr std::size_t kMinPagedBytes = std::size_t(128) << 10;

// Each buffer starts with a header saying where it came from (a failed
// mapping falls back to the heap); 64 bytes keep the payload 64-byte aligned.
constexpr std::size_t kHeader = 64;
enum : std::uint32_t { fromHeap = 1, fromPages = 2 };

}  // namespace

void* allocatePages(std::size_t bytes) {
  const std::size_t total = bytes + kHeader;
  void* block = nullptr;
  std::uint32_t origin = fromHeap;
#ifdef VITFEAT_HAVE_MMAP
  if (bytes >= kMinPagedBytes) {
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      block = p;
      origin = fromPages;
    }
  }
#endif
  if (!block) {
    block = std::aligned_alloc(kHeader, (total + kHeader - 1) / kHeader * kHeader);
    if (!block) throw std::bad_alloc();
  }
  std::memcpy(block, &origin, sizeof origin);
  return static_cast<char*>(block) + kHeader;
}

void freePages(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  char* block = static_cast<char*>(p) - kHeader;
  std::uint32_t origin = 0;
  std::memcpy(&origin, block, sizeof origin);
#ifdef VITFEAT_HAVE_MMAP
  if (origin == fromPages) {
    munmap(block, bytes + kHeader);
    return;
  }
#else
  (void)bytes;
#endif
  std::free(block);
}

}  // namespace vitfeat
