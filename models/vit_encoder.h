// The native encoder: a timm VisionTransformer built from its config and
// weights, served through the same ModuleEncoder as the other native models.
#pragma once

#include <memory>

#include "models/encoder.h"
#include "models/runtime.h"
#include "models/vision_transformer.h"

namespace vitfeat {

// Builds the model, adapts the first conv to options.in_chans when it differs
// from the checkpoint's, loads the weights and moves them to the device and
// dtype. CPLError + nullptr on failure.
std::unique_ptr<Encoder> createViTEncoder(const ViTConfig& config, const StateDict& sd,
                                          const std::string& weightsPath,
                                          const EncoderOptions& options);

}  // namespace vitfeat
