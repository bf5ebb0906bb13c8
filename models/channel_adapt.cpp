#include "models/channel_adapt.h"

#include <cpl_error.h>
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

bool adaptInputConvIn(StateDict& weights, const std::string& key, int64_t in_chans,
                      const std::string& weightsPath) {
  const torch::Tensor& stored = weights.at(key);
  auto adapted = adaptInputConv(in_chans, stored);
  if (!adapted) {
    CPLError(CE_Failure, CPLE_NotSupported,
             "%s: cannot adapt a %lld-channel %s to %lld input bands (timm's rule adapts "
             "3-channel weights to any count, and 1-3 or multiple-of-3 channel weights to 1)",
             weightsPath.c_str(), static_cast<long long>(stored.size(1)), key.c_str(),
             static_cast<long long>(in_chans));
    return false;
  }
  weights[key] = *adapted;
  return true;
}

}  // namespace vitfeat
