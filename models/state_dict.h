// Reading checkpoints into a name -> tensor map, whatever their file format.
// Errors go through CPLError (naming the file and the key) and give nullopt.
#pragma once

#include <torch/types.h>

#include <map>
#include <optional>
#include <string>

namespace vitfeat {

// Ordered by key so loading and error messages are deterministic.
using StateDict = std::map<std::string, torch::Tensor>;

// safetensors (https://github.com/huggingface/safetensors format): every bound is
// checked before a byte is trusted. F32, F16 and BF16 load; all tensors come
// back as contiguous CPU float32.
std::optional<StateDict> readSafetensors(const std::string& path);

// A state dict saved with torch.save (PyTorch's zip format: .pth/.pt/.bin),
// read through LibTorch's restricted unpickler. A legacy (non-zip) pickle is
// refused with a message on how to convert it. Tensors come back as float32.
std::optional<StateDict> readTorchCheckpoint(const std::string& path);

// Picks the reader by content (safetensors header or zip magic).
std::optional<StateDict> readStateDict(const std::string& path);

}  // namespace vitfeat
