#pragma once

#include <torch/types.h>

namespace vitfeat {

// timm's resample_abs_pos_embed: the grid part of a [1, prefix + gh*gw, D]
// position embedding resized to new_h x new_w with bicubic interpolation WITH
// antialiasing (align_corners false), computed in float32; the first
// num_prefix_tokens rows are kept as they are.
torch::Tensor resamplePosEmbed(const torch::Tensor& pos_embed, int64_t new_h, int64_t new_w,
                               int64_t num_prefix_tokens);

}  // namespace vitfeat
