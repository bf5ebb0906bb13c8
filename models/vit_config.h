// The hyper-parameters of a timm VisionTransformer, and where they come from:
// the architecture name, config.json (Hugging Face hub timm layout) and the
// shapes in the state dict, which have the last word on structure.
#pragma once

#include <cpl_json.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/state_dict.h"

namespace vitfeat {

struct ViTConfig {
  std::string architecture;
  int embed_dim = 768;
  int depth = 12;
  int num_heads = 12;
  int patch_size = 16;
  int img_size = 224;  // size the position embedding was trained for
  int in_chans = 3;    // channels of the stored patch_embed.proj.weight
  int mlp_hidden = 3072;
  bool qkv_bias = true;
  bool class_token = true;
  int reg_tokens = 0;
  bool no_embed_class = false;  // position embedding excludes the prefix tokens
  bool layer_scale = false;     // blocks have ls1.gamma / ls2.gamma
  bool gelu_tanh = false;       // MLP activation: tanh-approximated GELU (else exact erf GELU)
  bool final_norm = true;       // forward_features ends with `norm` (false: average-pool
                                // models whose LayerNorm is fc_norm, after pooling)
  double norm_eps = 1e-6;
  int patch_padding = 0;  // zero padding of the patch-embedding conv (DOFA: 1)

  // pretrained_cfg
  int input_height = 224;
  int input_width = 224;
  std::vector<float> mean{0.485f, 0.456f, 0.406f};
  std::vector<float> std{0.229f, 0.224f, 0.225f};

  int numPrefixTokens() const { return (class_token ? 1 : 0) + reg_tokens; }
  int gridSize() const { return img_size / patch_size; }
  int posEmbedLength() const {
    return gridSize() * gridSize() + (no_embed_class ? 0 : numPrefixTokens());
  }
};

// Defaults implied by a timm architecture name such as vit_small_patch14_reg4_dinov2
// or deit_tiny_patch16_224: timm's own per-architecture values (embed dim, depth,
// heads, activation, final norm). CPLError + nullopt, naming the family and why, for
// names the native ViT does not compute exactly (CLIP pre-norm, residual post-norm,
// parallel blocks, SwiGLU, hybrids, ...) and for names it does not know.
std::optional<ViTConfig> vitConfigFromArchitecture(const std::string& architecture);

// Reads config.json (may be empty: then everything is inferred from the weights,
// with a warning about the normalisation) and reconciles it with the state dict.
// Names weightsPath in errors.
std::optional<ViTConfig> vitConfigFromFiles(const std::string& configPath, const StateDict& sd,
                                            const std::string& weightsPath);

// False + CPLError naming both files when config.json's model_args gives one
// of these structure values differently from what the weights show.
bool modelArgsMatch(const CPLJSONObject& args,
                    std::initializer_list<std::pair<const char*, int>> fromWeights,
                    const std::string& configPath, const std::string& weightsPath);

// The input size (`pretrained_cfg.input_size`, [C, H, W]) and normalisation
// (`mean`, `std`) of a hub config.json root; what is absent is left as it is.
void readPretrainedCfg(const CPLJSONObject& root, int* height, int* width, std::vector<float>* mean,
                       std::vector<float>* std);

}  // namespace vitfeat
