// Include this instead of <catch2/catch.hpp> in tests that use LibTorch:
// LibTorch's headers bring glog's CHECK macro, which would otherwise replace
// Catch's CHECK (a failed check would then abort the whole test program).
#pragma once

#include <torch/torch.h>

#undef CHECK
#include <catch2/catch.hpp>
