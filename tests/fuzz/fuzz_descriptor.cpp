// libFuzzer harness: the descriptor files (driver/descriptor.cpp's
// readDescriptor with its loop check, driver/views/view_descriptor.cpp's
// readViewDescriptor, and the header sniffers the drivers' Identify use) on
// arbitrary bytes. The same bytes are read as a .vitfeat and as a .vitpca.

#include <cstddef>
#include <cstdint>

#include "driver/descriptor.h"
#include "driver/views/view_descriptor.h"
#include "tests/fuzz/fuzz_support.h"

using vitfeat::fuzz::MemFile;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  vitfeat::fuzz::quietGdal();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* header = reinterpret_cast<const char*>(data);
  const int headerBytes = static_cast<int>(size < 1024 ? size : 1024);
  vitfeat::looksLikeDescriptor(header, headerBytes);
  vitfeat::looksLikeViewDescriptor(header, headerBytes, "VITPCA");

  {
    const MemFile file("/vsimem/fuzz/features.vitfeat", data, size);
    const auto d = vitfeat::fuzz::expectErrorOnFailure(
        "readDescriptor", [&] { return vitfeat::readDescriptor(file.path()); });
    if (d && d->source.empty()) MemFile::abortWith("readDescriptor accepted an empty source");
  }
  {
    const MemFile file("/vsimem/fuzz/view.vitpca", data, size);
    const auto d = vitfeat::fuzz::expectErrorOnFailure(
        "readViewDescriptor", [&] { return vitfeat::readViewDescriptor(file.path(), "VITPCA"); });
    if (d && d->source.empty()) MemFile::abortWith("readViewDescriptor accepted an empty source");
  }
  return 0;
}
