#pragma once

#include <string>

#include "models/state_dict.h"

namespace vitfeat {

// Writes sd as a float32 safetensors file (keys sorted, data contiguous, header
// padded to 8 bytes as the reference writer does), through VSI. Used to make
// small models for examples and tests. CPLError + false on failure.
bool writeSafetensors(const std::string& path, const StateDict& sd);

}  // namespace vitfeat
