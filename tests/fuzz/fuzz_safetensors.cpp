// libFuzzer harness: readSafetensors (models/safetensors.cpp) on arbitrary
// bytes. Loaded tensors must be what the reader promises: contiguous CPU
// float32.

#include <cstddef>
#include <cstdint>

#include "models/state_dict.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/state_dict_checks.h"

using vitfeat::fuzz::MemFile;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  vitfeat::fuzz::quietGdal();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const MemFile file("/vsimem/fuzz/model.safetensors", data, size);
  const auto sd = vitfeat::fuzz::expectErrorOnFailure(
      "readSafetensors", [&] { return vitfeat::readSafetensors(file.path()); });
  if (!sd) return 0;
  vitfeat::fuzz::requireFloat32Tensors(*sd);
  std::size_t bytes = 0;
  for (const auto& entry : *sd)
    bytes += static_cast<std::size_t>(entry.second.numel()) * 2;  // each from >= 2 file bytes
  if (bytes > size) MemFile::abortWith("more tensor data than the file holds");
  return 0;
}
