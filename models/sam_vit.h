// timm's VisionTransformerSAM (the Segment Anything image encoder, samvit_*)
// forward_features in LibTorch: NHWC patch embedding and position embedding,
// windowed and global attention with decomposed relative position bias, and the
// neck (1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d). Module and parameter
// names mirror timm's state-dict keys (blocks.0.attn.rel_pos_h, neck.0.weight).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "models/encoder.h"
#include "models/layers.h"
#include "models/runtime.h"
#include "models/state_dict.h"

namespace vitfeat {

struct SamConfig {
  std::string architecture;
  int embed_dim = 768;
  int depth = 12;
  int num_heads = 12;
  int patch_size = 16;
  int img_size = 1024;  // size the position embedding and global rel-pos tables were built for
  int in_chans = 3;
  int mlp_hidden = 3072;
  int window_size = 14;
  std::vector<int> global_attn_indexes{2, 5, 8, 11};
  int neck_chans = 256;
  int input_height = 1024;
  int input_width = 1024;
  std::vector<float> mean{0.485f, 0.456f, 0.406f};
  std::vector<float> std{0.229f, 0.224f, 0.225f};

  int gridSize() const { return img_size / patch_size; }
  bool isGlobal(int block) const;
};

// Defaults for samvit_{base,large,huge}_patch16, overridden by config.json's
// model_args (embed_dim, depth, num_heads, img_size, global_attn_indexes,
// window_size) and checked against the weights. CPLError + nullopt on failure.
std::optional<SamConfig> samConfigFromFiles(const std::string& configPath, const StateDict& sd,
                                            const std::string& weightsPath);
bool isSamArchitecture(const std::string& architecture);

struct SamAttentionImpl : torch::nn::Module {
  SamAttentionImpl(int64_t dim, int64_t num_heads, int64_t rel_len);
  // x: [B, H, W, D]; rh, rw: the relative position tables for this H and W.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& rh, const torch::Tensor& rw);
  Linear qkv{nullptr}, proj{nullptr};
  torch::Tensor rel_pos_h, rel_pos_w;
  int64_t num_heads;
  double scale;
};
TORCH_MODULE(SamAttention);

struct SamMlpImpl : torch::nn::Module {
  SamMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SamMlp);

struct SamBlockImpl : torch::nn::Module {
  SamBlockImpl(const SamConfig& c, int index);
  // x: [B, H, W, D]
  torch::Tensor forward(const torch::Tensor& x);
  LayerNorm norm1{nullptr}, norm2{nullptr};
  SamAttention attn{nullptr};
  SamMlp mlp{nullptr};
  int64_t window_size;  // 0: global attention

  // rel_pos tables for a global block on an h x w grid (resized linearly as timm does).
  std::pair<torch::Tensor, torch::Tensor> relPosFor(int64_t h, int64_t w);
  std::mutex mutex;
  std::map<std::pair<int64_t, int64_t>, std::pair<torch::Tensor, torch::Tensor>> cache;
};
TORCH_MODULE(SamBlock);

// LayerNorm over the channels of an NCHW tensor (timm's LayerNorm2d).
struct LayerNorm2dImpl : torch::nn::Module {
  LayerNorm2dImpl(int64_t channels, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  double eps;
};
TORCH_MODULE(LayerNorm2d);

struct SamPatchEmbedImpl : torch::nn::Module {
  SamPatchEmbedImpl(int64_t in_chans, int64_t dim, int64_t patch);
  Conv2d proj{nullptr};
};
TORCH_MODULE(SamPatchEmbed);

struct SamVisionTransformerImpl : torch::nn::Module {
  explicit SamVisionTransformerImpl(const SamConfig& c);
  // [B, C, H, W] -> neck output NCHW [B, neck_chans, H/p, W/p]: timm's forward_features.
  torch::Tensor forwardFeatures(const torch::Tensor& x);
  // The same as a grid [B, h, w, neck_chans].
  torch::Tensor forwardPatchGrid(const torch::Tensor& x);
  void clearCaches();

  const SamConfig config;
  SamPatchEmbed patch_embed{nullptr};
  torch::Tensor pos_embed;  // [1, gh, gw, D]
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::Sequential neck{nullptr};

 private:
  torch::Tensor posEmbedFor(int64_t h, int64_t w);
  std::mutex pos_mutex_;
  std::map<std::pair<int64_t, int64_t>, torch::Tensor> pos_cache_;
};
TORCH_MODULE(SamVisionTransformer);

// Name matching as for the plain ViT; head.* is ignored. CPLError + false.
bool loadSamWeights(SamVisionTransformer& model, const StateDict& sd,
                    const std::string& weightsPath);

// The SAM encoder behind the Encoder interface: the first conv adapted to
// options.in_chans as for the plain ViT (timm's adapt_input_conv), grid = neck
// output (neck_chans features per cell). CPLError + nullptr on failure.
std::unique_ptr<Encoder> createSamEncoder(const SamConfig& config, const StateDict& sd,
                                          const std::string& weightsPath,
                                          const EncoderOptions& options);

}  // namespace vitfeat
