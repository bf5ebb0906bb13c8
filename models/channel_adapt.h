#pragma once

#include <torch/types.h>

#include <optional>
#include <string>

#include "models/state_dict.h"

namespace vitfeat {

// timm's adapt_input_conv for a first conv weight [O, I, kh, kw] fed in_chans
// channels: unchanged when I == in_chans; 1 channel: sum over the input dim;
// otherwise (I must be 3) the RGB filters repeat along the input dim, the first
// in_chans are kept and scaled by 3 / in_chans. Computed in float32.
// nullopt when the conversion is undefined (I != 3 and in_chans > 1).
std::optional<torch::Tensor> adaptInputConv(int64_t in_chans, const torch::Tensor& weight);

// Replaces weights[key] (a first conv weight) by its adaptation to in_chans
// channels. CPLError naming weightsPath + false when it is undefined.
bool adaptInputConvIn(StateDict& weights, const std::string& key, int64_t in_chans,
                      const std::string& weightsPath);

}  // namespace vitfeat
