// timm's VisionTransformer forward_features in LibTorch. Module and parameter
// names mirror timm's state-dict keys (patch_embed.proj, blocks.0.attn.qkv,
// blocks.0.ls1.gamma, norm, ...), so loading weights is name matching.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <map>
#include <mutex>
#include <utility>

#include "models/layers.h"
#include "models/vit_config.h"

namespace vitfeat {

struct LayerScaleImpl : torch::nn::Module {
  explicit LayerScaleImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x) { return x * gamma; }
  torch::Tensor gamma;
};
TORCH_MODULE(LayerScale);

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias);
  torch::Tensor forward(const torch::Tensor& x);
  Linear qkv{nullptr}, proj{nullptr};
  int64_t num_heads;
  double scale;
  bool scale_folded = false;  // q's scale is in qkv's weights (foldScales)
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t dim, int64_t hidden, bool gelu_tanh = false);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};
  bool gelu_tanh;  // tanh-approximated GELU (timm's 'gelu_tanh'), else exact erf GELU
};
TORCH_MODULE(Mlp);

// Pre-norm transformer block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))).
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const ViTConfig& c);
  torch::Tensor forward(torch::Tensor x);
  LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
  LayerScale ls1{nullptr}, ls2{nullptr};  // null without LayerScale

  // Folds the attention scale into the q rows of attn.qkv, and ls1/ls2 into
  // attn.proj and mlp.fc2, so the forward skips three elementwise passes over
  // the tokens. The same function, up to float rounding.
  void foldScales();
  bool layer_scale_folded = false;
};
TORCH_MODULE(Block);

struct PatchEmbedImpl : torch::nn::Module {
  PatchEmbedImpl(int64_t in_chans, int64_t dim, int64_t patch, int64_t padding = 0);
  // [B, C, H, W] -> [B, D, H/p, W/p]
  torch::Tensor forward(const torch::Tensor& x) { return proj(x); }
  Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct VisionTransformerImpl : torch::nn::Module {
  explicit VisionTransformerImpl(const ViTConfig& c);
  // [B, C, H, W] (H, W multiples of the patch size) -> tokens [B, prefix + h*w, D],
  // after the final norm (when the model has one): timm's forward_features.
  torch::Tensor forwardFeatures(const torch::Tensor& x);
  // The patch tokens of forwardFeatures as a grid [B, h, w, D].
  torch::Tensor forwardPatchGrid(const torch::Tensor& x);

  const ViTConfig config;
  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token, reg_token, pos_embed;  // undefined when absent
  torch::nn::ModuleList blocks{nullptr};
  LayerNorm norm{nullptr};  // null when config.final_norm is false

 private:
  // pos_embed resampled to an h x w grid, cached per grid (the weights never change
  // after loading; call clearPosEmbedCache() if they do).
  torch::Tensor posEmbedFor(int64_t h, int64_t w);
  std::mutex pos_mutex_;
  std::map<std::pair<int64_t, int64_t>, torch::Tensor> pos_cache_;

 public:
  void clearPosEmbedCache();
  // Every block's foldScales(), after loadWeights and before inference; the
  // parameters then no longer equal the checkpoint's.
  void foldScales();
};
TORCH_MODULE(VisionTransformer);

// Copies sd into model's parameters by name. Every parameter must be present
// with the right shape and every key must be used, except timm's classifier and
// pooling heads (head.*, fc_norm.*, attn_pool.*, head_drop.*), which
// forward_features never touches. CPLError naming weightsPath and the key.
bool loadWeights(VisionTransformer& model, const StateDict& sd, const std::string& weightsPath);

}  // namespace vitfeat
