#include "models/pos_embed.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace vitfeat {

torch::Tensor resamplePosEmbed(const torch::Tensor& pos_embed, int64_t new_h, int64_t new_w,
                               int64_t num_prefix_tokens) {
  const int64_t tokens = pos_embed.size(1) - num_prefix_tokens;
  const auto old = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
  if (old * old != tokens) throw std::invalid_argument("position embedding grid is not square");
  if (old == new_h && old == new_w) return pos_embed;

  const int64_t dim = pos_embed.size(2);
  const torch::Tensor prefix = pos_embed.narrow(1, 0, num_prefix_tokens);
  torch::Tensor grid = pos_embed.narrow(1, num_prefix_tokens, tokens)
                           .to(torch::kFloat32)
                           .reshape({1, old, old, dim})
                           .permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  grid = F::interpolate(grid, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{new_h, new_w})
                                  .mode(torch::kBicubic)
                                  .align_corners(false)
                                  .antialias(true));
  grid = grid.permute({0, 2, 3, 1}).reshape({1, new_h * new_w, dim}).to(pos_embed.scalar_type());
  return num_prefix_tokens > 0 ? torch::cat({prefix, grid}, 1) : grid;
}

}  // namespace vitfeat
