// Checkpoint files for tests that need a torch.save-style zip without Python.
#pragma once

#include <string>
#include <vector>

#include "models/state_dict.h"

namespace vitfeat::test {

// Writes sd as LibTorch's pickle_save of a str -> tensor dict (PyTorch's zip
// format) to path and returns the bytes written; empty if the file could not be written.
std::vector<char> writePickledStateDict(const std::string& path, const StateDict& sd);

}  // namespace vitfeat::test
