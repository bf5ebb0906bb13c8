#include "models/channel_adapt.h"

#include <torch/torch.h>

namespace vitfeat {

std::optional<torch::Tensor> adaptInputConv(int64_t in_chans, const torch::Tensor& weight) {
  const int64_t stored = weight.size(1);
  if (in_chans == stored) return weight;
  const torch::Tensor w = weight.to(torch::kFloat32);
  torch::Tensor out;
  if (in_chans == 1) {
    if (stored > 3) {
      if (stored % 3 != 0) return std::nullopt;
      // space-to-depth stems hold groups of RGB filters: sum within each group
      out = w.reshape({w.size(0), stored / 3, 3, w.size(2), w.size(3)}).sum(2);
    } else {
      out = w.sum(1, /*keepdim=*/true);
    }
  } else {
    if (stored != 3) return std::nullopt;
    const int64_t repeat = (in_chans + 2) / 3;
    out = w.repeat({1, repeat, 1, 1}).narrow(1, 0, in_chans).contiguous();
    out.mul_(3.0 / static_cast<double>(in_chans));
  }
  return out.to(weight.scalar_type());
}

}  // namespace vitfeat
