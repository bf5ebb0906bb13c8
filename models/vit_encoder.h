// The native encoder: a timm VisionTransformer built from its config and weights.
#pragma once

#include <memory>

#include "models/encoder.h"
#include "models/runtime.h"
#include "models/vision_transformer.h"

namespace vitfeat {

class ViTEncoder final : public Encoder {
 public:
  // Builds the model, adapts the first conv to options.in_chans when it differs
  // from the checkpoint's, loads the weights and moves them to the device and
  // dtype. CPLError + nullptr on failure.
  static std::unique_ptr<ViTEncoder> create(const ViTConfig& config, const StateDict& sd,
                                            const std::string& weightsPath,
                                            const EncoderOptions& options);

  const EncoderInfo& info() const override { return info_; }
  torch::Tensor forward(const torch::Tensor& x) const override;

 private:
  ViTEncoder(VisionTransformer model, torch::Device device, torch::ScalarType dtype,
             EncoderInfo info);
  // LibTorch's forward is not const; inference leaves the module unchanged.
  mutable VisionTransformer model_;
  const torch::Device device_;
  const torch::ScalarType dtype_;
  const EncoderInfo info_;
};

}  // namespace vitfeat
