// Writing a model folder in the Hugging Face hub timm layout (config.json +
// model.safetensors), e.g. a small randomly initialised ViT for examples,
// tests and benchmarks, since no pretrained weights ship with vitfeat.
#pragma once

#include <cstdint>
#include <string>

#include "models/state_dict.h"
#include "models/vit_config.h"

namespace vitfeat {

// Seeded random weights for config: LibTorch's default initialisation plus
// small noise on every tensor so position embeddings, norms and biases all
// matter. Same seed, same weights.
StateDict randomViTWeights(const ViTConfig& config, uint64_t seed);

// dir/config.json (architecture, model_args, pretrained_cfg) and
// dir/model.safetensors. Creates dir. CPLError + false on failure.
bool writeModelFolder(const std::string& dir, const ViTConfig& config, const StateDict& sd);

}  // namespace vitfeat
