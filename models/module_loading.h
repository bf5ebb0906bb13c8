// Loading a state dict into a LibTorch module by name, and an Encoder over any
// module with a forwardPatchGrid(), shared by the encoders other than the plain ViT.
#pragma once

#include <cpl_error.h>
#include <torch/nn/module.h>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/encoder.h"
#include "models/runtime.h"
#include "models/state_dict.h"

namespace vitfeat {

// Copies sd into every parameter and buffer of module by name. Every one must
// be present with its shape; every key must be used, except those starting with
// one of ignoredPrefixes (heads and training-only parts). CPLError naming
// weightsPath, the key and `what` (the model) on failure.
bool loadByName(torch::nn::Module& module, const StateDict& sd, const std::string& weightsPath,
                const std::string& what, const std::vector<std::string>& ignoredPrefixes);

// What every native encoder resolves before building its module: the device,
// the dtype, and the weights with the first conv (key firstConv, storedChans
// input channels) adapted to options.in_chans as timm does. CPLError + nullopt.
struct PreparedWeights {
  torch::Device device;
  torch::ScalarType dtype;
  StateDict weights;  // shallow copy: tensors are shared, only replaced ones differ
  int in_chans;
};
std::optional<PreparedWeights> prepareWeights(const StateDict& sd, int storedChans,
                                              const std::string& firstConv,
                                              const std::string& weightsPath,
                                              const EncoderOptions& options);

// An Encoder over a module holder M (e.g. SamVisionTransformer) whose
// forwardPatchGrid maps [B, C, H, W] to [B, h, w, D].
template <typename M>
class ModuleEncoder final : public Encoder {
 public:
  ModuleEncoder(M model, torch::Device device, torch::ScalarType dtype, EncoderInfo info)
      : model_(std::move(model)), device_(device), dtype_(dtype), info_(std::move(info)) {}

  const EncoderInfo& info() const override { return info_; }

  torch::Tensor forward(const torch::Tensor& x) const override {
    const int p = info_.patch_size;
    const bool sizeOk =
        info_.dynamic_input
            ? x.dim() == 4 && x.size(2) % p == 0 && x.size(3) % p == 0 && x.size(2) > 0 &&
                  x.size(3) > 0
            : x.dim() == 4 && x.size(2) == info_.input_height && x.size(3) == info_.input_width;
    if (x.dim() != 4 || x.size(1) != info_.in_chans || !sizeOk) {
      const std::string size = info_.dynamic_input ? "H and W multiples of " + std::to_string(p)
                                                   : std::to_string(info_.input_height) + " x " +
                                                         std::to_string(info_.input_width);
      throw std::invalid_argument("encoder input must be [B, " + std::to_string(info_.in_chans) +
                                  ", H, W] with " + size + ", got " + c10::str(x.sizes()));
    }
    c10::InferenceMode inference;
    return toHostFloat(model_->forwardPatchGrid(toModelInput(x, device_, dtype_)));
  }

 private:
  mutable M model_;  // LibTorch's forward is not const; inference leaves it unchanged
  const torch::Device device_;
  const torch::ScalarType dtype_;
  const EncoderInfo info_;
};

}  // namespace vitfeat
