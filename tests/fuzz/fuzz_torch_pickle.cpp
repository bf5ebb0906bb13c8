// libFuzzer harness: the pickle inside a torch.save archive. The input is the
// archive's data.pkl; the harness stores it, with four fixed storage records
// (data/0: 64 bytes, data/1: 8, data/2: empty, data/3: 8), in a valid zip written by
// LibTorch's own PyTorchStreamWriter, and reads that with readTorchCheckpoint.
// So every input reaches the pickle rewriting, LibTorch's unpickler and the
// checks of tensors against their storage, past the zip's CRCs.

#include <caffe2/serialize/inline_container.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "models/state_dict.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/state_dict_checks.h"

using vitfeat::fuzz::MemFile;

namespace {

std::vector<char> archiveAround(const std::uint8_t* pickle, std::size_t size) {
  std::vector<char> out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, std::size_t n) {
    const auto* p = static_cast<const char*>(buf);
    out.insert(out.end(), p, p + n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle, size);
  std::array<float, 16> floats{};
  for (std::size_t i = 0; i < floats.size(); ++i) floats[i] = 0.5f * static_cast<float>(i);
  writer.writeRecord("data/0", floats.data(), sizeof(floats));
  writer.writeRecord("data/1", floats.data(), 8);
  writer.writeRecord("data/2", floats.data(), 0);
  writer.writeRecord("data/3", floats.data(), 8);
  writer.writeEndOfFile();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  vitfeat::fuzz::quietGdal();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> zip = archiveAround(data, size);
  const MemFile file("/vsimem/fuzz/pickle.pth", reinterpret_cast<const std::uint8_t*>(zip.data()),
                     zip.size());
  const auto sd = vitfeat::fuzz::expectErrorOnFailure(
      "readTorchCheckpoint", [&] { return vitfeat::readTorchCheckpoint(file.path()); });
  if (!sd) return 0;
  vitfeat::fuzz::requireFloat32Tensors(*sd);
  return 0;
}
