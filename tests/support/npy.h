// Reads NumPy .npy arrays (little-endian float32/float64/int64, C order), as
// written by the fixture scripts, into CPU tensors.
#pragma once

#include <torch/types.h>

#include <string>

namespace vitfeat::test {

// Throws std::runtime_error naming the file on anything unexpected.
torch::Tensor loadNpy(const std::string& path);

}  // namespace vitfeat::test
