// libFuzzer harness: readSafetensors (models/safetensors.cpp) on arbitrary
// bytes. Loaded tensors must be what the reader promises: contiguous CPU
// float32.

#include <cstddef>
#include <cstdint>

#include "models/state_dict.h"
#include "tests/fuzz/fuzz_support.h"

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
  std::size_t bytes = 0;
  for (const auto& [key, t] : *sd) {
    if (t.scalar_type() != torch::kFloat32 || !t.is_contiguous() || !t.device().is_cpu())
      MemFile::abortWith("tensor '" + key + "' is not contiguous CPU float32");
    bytes += static_cast<std::size_t>(t.numel()) * 2;  // each came from >= 2 file bytes
  }
  if (bytes > size) MemFile::abortWith("more tensor data than the file holds");
  return 0;
}
