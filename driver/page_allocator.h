// An allocator that takes whole pages from the system for each allocation of
// 128 KiB or more and gives them back when it is freed (smaller ones, and any
// the system refuses to map, come from the heap): for buffers that live long
// next to a stream of short-lived ones, such as cached tiles next to the
// model's temporaries.
//
// Why: glibc's heap serves both, and a tile kept for minutes between freed
// multi-megabyte temporaries keeps that space from being handed back or reused
// for larger requests, so the heap grows. Measured with gdal_translate at
// 4096 x 4096, STRIDE = TILE_SIZE (bench/end_to_end.sh) and the periodic
// malloc_trim of feature_engine.cpp switched off: peak RSS 1003 MB with tiles
// on the heap, 815 MB with tiles in their own pages. An evicted tile's memory
// also leaves the process at once.
#pragma once

#include <cstddef>
#include <new>

namespace vitfeat {

void* allocatePages(std::size_t bytes);  // throws std::bad_alloc
void freePages(void* p, std::size_t bytes) noexcept;

template <class T>
struct PageAllocator {
  using value_type = T;
  PageAllocator() = default;
  template <class U>
  PageAllocator(const PageAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocatePages(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { freePages(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PageAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const PageAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace vitfeat
