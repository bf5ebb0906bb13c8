// libFuzzer harness: readTorchCheckpoint (models/torch_checkpoint.cpp) on
// arbitrary bytes, i.e. whole torch.save zip archives: the zip directory, the
// records and the pickle inside. fuzz_torch_pickle reaches the pickle faster.

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
  const MemFile file("/vsimem/fuzz/checkpoint.pth", data, size);
  const auto sd = vitfeat::fuzz::expectErrorOnFailure(
      "readTorchCheckpoint", [&] { return vitfeat::readTorchCheckpoint(file.path()); });
  if (!sd) return 0;
  vitfeat::fuzz::requireFloat32Tensors(*sd);
  return 0;
}
