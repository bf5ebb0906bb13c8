#include "models/vit_encoder.h"

#include <cpl_error.h>
#include <torch/torch.h>

#include <stdexcept>

#include "models/channel_adapt.h"

namespace vitfeat {

ViTEncoder::ViTEncoder(VisionTransformer model, torch::Device device, torch::ScalarType dtype,
                       EncoderInfo info)
    : model_(std::move(model)), device_(device), dtype_(dtype), info_(std::move(info)) {}

std::unique_ptr<ViTEncoder> ViTEncoder::create(const ViTConfig& stored, const StateDict& sd,
                                               const std::string& weightsPath,
                                               const EncoderOptions& options) {
  const auto device = resolveDevice(options.device);
  if (!device) return nullptr;
  const auto dtype = resolveDtype(options.dtype, *device);
  if (!dtype) return nullptr;

  ViTConfig config = stored;
  StateDict weights = sd;  // shallow: tensors are shared, only replaced ones differ
  if (options.in_chans > 0 && options.in_chans != stored.in_chans) {
    if (!adaptInputConvIn(weights, "patch_embed.proj.weight", options.in_chans, weightsPath))
      return nullptr;
    config.in_chans = options.in_chans;
  }

  try {
    VisionTransformer model(config);
    if (!loadWeights(model, weights, weightsPath)) return nullptr;
    model->eval();
    model->to(*device, *dtype);

    EncoderInfo info;
    info.name = config.architecture;
    info.weights = weightsPath;
    info.in_chans = config.in_chans;
    info.input_height = config.input_height;
    info.input_width = config.input_width;
    info.patch_size = config.patch_size;
    info.embed_dim = config.embed_dim;
    info.num_prefix_tokens = config.numPrefixTokens();
    info.dynamic_input = true;  // position embeddings are resampled to any grid
    info.mean = config.mean;
    info.std = config.std;
    info.device = device->str();
    info.dtype = dtypeName(*dtype);
    return std::unique_ptr<ViTEncoder>(
        new ViTEncoder(std::move(model), *device, *dtype, std::move(info)));
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: cannot build the model: %s", weightsPath.c_str(),
             e.what());
    return nullptr;
  }
}

torch::Tensor ViTEncoder::forward(const torch::Tensor& x) const {
  const int p = info_.patch_size;
  if (x.dim() != 4 || x.size(1) != info_.in_chans || x.size(2) % p != 0 || x.size(3) % p != 0 ||
      x.size(2) == 0 || x.size(3) == 0) {
    throw std::invalid_argument("encoder input must be [B, " + std::to_string(info_.in_chans) +
                                ", H, W] with H and W multiples of " + std::to_string(p) +
                                ", got " + c10::str(x.sizes()));
  }
  c10::InferenceMode inference;
  const torch::Tensor grid = model_->forwardPatchGrid(x.to(device_, dtype_));
  return grid.to(torch::kCPU, torch::kFloat32).contiguous();
}

}  // namespace vitfeat
