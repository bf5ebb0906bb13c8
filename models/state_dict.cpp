// Chooses a checkpoint reader by the file's first bytes, not its extension:
// .bin and .pt are used for both formats in the wild.

#include "models/state_dict.h"

#include <cpl_error.h>
#include <cpl_vsi.h>

#include <array>
#include <cstdint>
#include <memory>

namespace vitfeat {
namespace {

struct VsiCloser {
  void operator()(VSILFILE* f) const { VSIFCloseL(f); }
};
using VsiFile = std::unique_ptr<VSILFILE, VsiCloser>;

enum class Format { kSafetensors, kTorchZip, kLegacyPickle, kUnknown };

Format sniff(const std::array<unsigned char, 9>& head, size_t got) {
  if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 0x03 && head[3] == 0x04) {
    return Format::kTorchZip;
  }
  // Pickle's PROTO opcode; legacy torch.save files start with it.
  if (got >= 1 && head[0] == 0x80) return Format::kLegacyPickle;
  if (got == head.size() && head[8] == '{') {
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | head[i];
    // "{}" is the smallest header. A length past the end of the file is still
    // taken as safetensors (a truncated one), so the reader explains exactly
    // what is wrong; it re-checks everything.
    if (n >= 2 && n < (std::uint64_t{1} << 32)) return Format::kSafetensors;
  }
  return Format::kUnknown;
}

}  // namespace

std::optional<StateDict> readStateDict(const std::string& path) {
  std::array<unsigned char, 9> head{};
  size_t got = 0;
  {
    const VsiFile file(VSIFOpenL(path.c_str(), "rb"));
    if (!file) {
      CPLError(CE_Failure, CPLE_OpenFailed, "checkpoint %s: cannot open file (does it exist?)",
               path.c_str());
      return std::nullopt;
    }
    got = VSIFReadL(head.data(), 1, head.size(), file.get());
  }
  switch (sniff(head, got)) {
    case Format::kSafetensors:
      return readSafetensors(path);
    case Format::kTorchZip:
    case Format::kLegacyPickle:  // its reader explains how to convert it
      return readTorchCheckpoint(path);
    case Format::kUnknown:
      break;
  }
  CPLError(CE_Failure, CPLE_NotSupported,
           "checkpoint %s: unrecognised format; accepted are safetensors and PyTorch "
           "torch.save zip archives (.pth/.pt/.bin)",
           path.c_str());
  return std::nullopt;
}

}  // namespace vitfeat
