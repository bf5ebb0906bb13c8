// The weight readers' output contract, checked by their fuzz harnesses: every
// tensor they return is contiguous CPU float32 (whatever the file stored).
#pragma once

#include <string>

#include "models/state_dict.h"
#include "tests/fuzz/fuzz_support.h"

namespace vitfeat::fuzz {

inline void requireFloat32Tensors(const StateDict& sd) {
  for (const auto& [key, t] : sd) {
    if (t.scalar_type() != torch::kFloat32 || !t.is_contiguous() || !t.device().is_cpu())
      MemFile::abortWith("tensor '" + key + "' is not contiguous CPU float32");
  }
}

}  // namespace vitfeat::fuzz
