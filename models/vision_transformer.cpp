#include "models/vision_transformer.h"

#include <cpl_error.h>
#include <torch/torch.h>

#include <set>

#include "models/pos_embed.h"

namespace vitfeat {

LayerScaleImpl::LayerScaleImpl(int64_t dim) {
  gamma = register_parameter("gamma", torch::ones({dim}));
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t heads, bool qkv_bias)
    : num_heads(heads), scale(1.0 / std::sqrt(static_cast<double>(dim / heads))) {
  qkv = register_module("qkv", Linear(dim, 3 * dim, qkv_bias));
  proj = register_module("proj", Linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  // [B, N, 3C] -> [3, B, heads, N, head_dim]
  const torch::Tensor qkv_ =
      qkv(x).reshape({B, N, 3, num_heads, C / num_heads}).permute({2, 0, 3, 1, 4});
  // timm's non-fused path: scale q first, then q @ k^T, softmax, @ v.
  const torch::Tensor q = scale_folded ? qkv_[0] : qkv_[0] * scale;
  const torch::Tensor attn = q.matmul(qkv_[1].transpose(-2, -1)).softmax(-1);
  return proj(attn.matmul(qkv_[2]).transpose(1, 2).reshape({B, N, C}));
}

MlpImpl::MlpImpl(int64_t dim, int64_t hidden, bool tanh) : gelu_tanh(tanh) {
  fc1 = register_module("fc1", Linear(dim, hidden));
  fc2 = register_module("fc2", Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return fc2(torch::gelu(fc1(x), gelu_tanh ? "tanh" : "none"));
}

BlockImpl::BlockImpl(const ViTConfig& c) {
  norm1 = register_module("norm1", LayerNorm(c.embed_dim, c.norm_eps));
  attn = register_module("attn", Attention(c.embed_dim, c.num_heads, c.qkv_bias));
  norm2 = register_module("norm2", LayerNorm(c.embed_dim, c.norm_eps));
  mlp = register_module("mlp", Mlp(c.embed_dim, c.mlp_hidden, c.gelu_tanh));
  if (c.layer_scale) {
    ls1 = register_module("ls1", LayerScale(c.embed_dim));
    ls2 = register_module("ls2", LayerScale(c.embed_dim));
  }
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  const bool scaled = ls1 && !layer_scale_folded;
  const torch::Tensor a = attn(norm1(x));
  // The residual sums in place: x is this block's own (a fresh tensor from
  // the previous block or the embedding), and inference keeps no graph.
  x = torch::GradMode::is_enabled() ? x + (scaled ? ls1(a) : a) : x.add_(scaled ? ls1(a) : a);
  const torch::Tensor m = mlp(norm2(x));
  return torch::GradMode::is_enabled() ? x + (scaled ? ls2(m) : m) : x.add_(scaled ? ls2(m) : m);
}

void BlockImpl::foldScales() {
  torch::NoGradGuard no_grad;
  if (!attn->scale_folded) {
    const int64_t C = attn->proj->weight.size(0);
    attn->qkv->weight.narrow(0, 0, C).mul_(attn->scale);
    if (attn->qkv->bias.defined()) attn->qkv->bias.narrow(0, 0, C).mul_(attn->scale);
    attn->scale_folded = true;
  }
  if (ls1 && !layer_scale_folded) {
    attn->proj->weight.mul_(ls1->gamma.unsqueeze(1));
    attn->proj->bias.mul_(ls1->gamma);
    mlp->fc2->weight.mul_(ls2->gamma.unsqueeze(1));
    mlp->fc2->bias.mul_(ls2->gamma);
    layer_scale_folded = true;
  }
}

PatchEmbedImpl::PatchEmbedImpl(int64_t in_chans, int64_t dim, int64_t patch, int64_t padding) {
  proj = register_module("proj", Conv2d(in_chans, dim, patch, patch, padding));
}

VisionTransformerImpl::VisionTransformerImpl(const ViTConfig& c) : config(c) {
  patch_embed = register_module("patch_embed",
                                PatchEmbed(c.in_chans, c.embed_dim, c.patch_size, c.patch_padding));
  if (c.class_token) cls_token = register_parameter("cls_token", torch::zeros({1, 1, c.embed_dim}));
  if (c.reg_tokens > 0)
    reg_token = register_parameter("reg_token", torch::zeros({1, c.reg_tokens, c.embed_dim}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, c.posEmbedLength(), c.embed_dim}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < c.depth; ++i) blocks->push_back(Block(c));
  if (c.final_norm) norm = register_module("norm", LayerNorm(c.embed_dim, c.norm_eps));
}

void VisionTransformerImpl::foldScales() {
  for (const auto& block : *blocks) block->as<Block>()->foldScales();
}

void VisionTransformerImpl::clearPosEmbedCache() {
  const std::lock_guard<std::mutex> lock(pos_mutex_);
  pos_cache_.clear();
}

torch::Tensor VisionTransformerImpl::posEmbedFor(int64_t h, int64_t w) {
  const std::lock_guard<std::mutex> lock(pos_mutex_);
  auto it = pos_cache_.find({h, w});
  if (it == pos_cache_.end()) {
    const int64_t prefix = config.no_embed_class ? 0 : config.numPrefixTokens();
    it = pos_cache_.emplace(std::make_pair(h, w), resamplePosEmbed(pos_embed, h, w, prefix)).first;
  }
  return it->second;
}

torch::Tensor VisionTransformerImpl::forwardFeatures(const torch::Tensor& input) {
  const torch::Tensor grid = patch_embed(input);  // [B, D, h, w]
  const int64_t B = grid.size(0), h = grid.size(2), w = grid.size(3);
  torch::Tensor x = grid.flatten(2).transpose(1, 2);  // [B, h*w, D]

  std::vector<torch::Tensor> prefix;
  if (cls_token.defined()) prefix.push_back(cls_token.expand({B, -1, -1}));
  if (reg_token.defined()) prefix.push_back(reg_token.expand({B, -1, -1}));
  const torch::Tensor pos = posEmbedFor(h, w);
  // timm: without no_embed_class the prefix tokens get position embeddings too.
  if (config.no_embed_class) {
    x = x + pos;
    if (!prefix.empty()) {
      prefix.push_back(x);
      x = torch::cat(prefix, 1);
    }
  } else {
    if (!prefix.empty()) {
      prefix.push_back(x);
      x = torch::cat(prefix, 1);
    }
    x = x + pos;
  }
  for (const auto& block : *blocks) x = block->as<Block>()->forward(x);
  return norm ? norm(x) : x;
}

torch::Tensor VisionTransformerImpl::forwardPatchGrid(const torch::Tensor& input) {
  const int64_t p = config.patch_size;
  const int64_t h = input.size(2) / p, w = input.size(3) / p;
  const torch::Tensor tokens = forwardFeatures(input);
  return tokens.narrow(1, config.numPrefixTokens(), h * w)
      .reshape({input.size(0), h, w, tokens.size(2)});
}

bool loadWeights(VisionTransformer& model, const StateDict& sd, const std::string& weightsPath) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& item : model->named_parameters(/*recurse=*/true)) {
    const auto it = sd.find(item.key());
    if (it == sd.end()) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: missing key '%s' (a %s parameter of %s)",
               weightsPath.c_str(), item.key().c_str(), c10::str(item.value().sizes()).c_str(),
               model->config.architecture.c_str());
      return false;
    }
    if (it->second.sizes() != item.value().sizes()) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: key '%s' has shape %s, the model expects %s",
               weightsPath.c_str(), item.key().c_str(), c10::str(it->second.sizes()).c_str(),
               c10::str(item.value().sizes()).c_str());
      return false;
    }
    item.value().copy_(it->second);
    used.insert(item.key());
  }
  for (const auto& block : *model->blocks) {
    block->as<Block>()->layer_scale_folded = false;  // the checkpoint's values again
    block->as<Block>()->attn->scale_folded = false;
  }
  for (const auto& kv : sd) {
    if (used.count(kv.first)) continue;
    const std::string& k = kv.first;
    const bool head = k.rfind("head.", 0) == 0 || k.rfind("fc_norm.", 0) == 0 ||
                      k.rfind("attn_pool.", 0) == 0 || k.rfind("head_drop.", 0) == 0;
    if (head) continue;
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: unexpected key '%s': the checkpoint has a part that %s does not (the native "
             "ViT covers timm's plain VisionTransformer; export other models to TorchScript)",
             weightsPath.c_str(), k.c_str(), model->config.architecture.c_str());
    return false;
  }
  model->clearPosEmbedCache();
  return true;
}

}  // namespace vitfeat
