#include "models/sam_vit.h"

#include <cpl_error.h>
#include <cpl_json.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <regex>

#include "models/module_loading.h"
#include "models/vit_config.h"

namespace vitfeat {

namespace {

namespace F = torch::nn::functional;

struct SamSize {
  const char* name;
  int embed_dim, depth, num_heads;
  std::vector<int> global;
};
const SamSize kSamSizes[] = {{"base", 768, 12, 12, {2, 5, 8, 11}},
                             {"large", 1024, 24, 16, {5, 11, 17, 23}},
                             {"huge", 1280, 32, 16, {7, 15, 23, 31}}};

const std::regex& samPattern() {
  static const std::regex re(R"(^samvit_(base|large|huge)_patch16$)");
  return re;
}

// timm's get_rel_pos for q_size == k_size == size: the table resized linearly
// (align_corners false) to 2 * size - 1 rows when it has another length, then
// indexed by (i - j) + size - 1. [L, C] -> [size, size, C], float32.
torch::Tensor relPosTable(const torch::Tensor& rel_pos, int64_t size) {
  const int64_t length = 2 * size - 1;
  torch::Tensor table = rel_pos.to(torch::kFloat32);
  if (table.size(0) != length) {
    table = F::interpolate(table.reshape({1, table.size(0), -1}).permute({0, 2, 1}),
                           F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{length})
                               .mode(torch::kLinear)
                               .align_corners(false));
    table = table.reshape({-1, length}).permute({1, 0});
  }
  const torch::Tensor coords = torch::arange(size, table.options().dtype(torch::kLong));
  const torch::Tensor index = coords.unsqueeze(1) - coords.unsqueeze(0) + (size - 1);
  return table.index({index});
}

}  // namespace

bool SamConfig::isGlobal(int block) const {
  for (int i : global_attn_indexes)
    if (i == block) return true;
  return false;
}

bool isSamArchitecture(const std::string& architecture) {
  return architecture.rfind("samvit_", 0) == 0;
}

std::optional<SamConfig> samConfigFromFiles(const std::string& configPath, const StateDict& sd,
                                            const std::string& weightsPath) {
  CPLJSONDocument doc;
  if (configPath.empty() || !doc.Load(configPath)) {
    CPLError(CE_Failure, CPLE_OpenFailed,
             "%s: a SAM encoder needs a readable config.json beside it", weightsPath.c_str());
    return std::nullopt;
  }
  const CPLJSONObject root = doc.GetRoot();
  const std::string architecture = root.GetString("architecture");
  const std::string base = architecture.substr(0, architecture.find('.'));
  std::smatch m;
  const SamSize* size = nullptr;
  if (std::regex_match(base, m, samPattern()))
    for (const SamSize& s : kSamSizes)
      if (m[1] == s.name) size = &s;
  if (!size) {
    CPLError(CE_Failure, CPLE_NotSupported,
             "%s: architecture '%s' is not one of timm's SAM image encoders "
             "(samvit_{base,large,huge}_patch16)",
             configPath.c_str(), architecture.c_str());
    return std::nullopt;
  }
  SamConfig c;
  c.architecture = base;
  c.embed_dim = size->embed_dim;
  c.depth = size->depth;
  c.num_heads = size->num_heads;
  c.global_attn_indexes = size->global;
  const int archEmbedDim = c.embed_dim;

  const CPLJSONObject args = root.GetObj("model_args");
  bool headsGiven = false;
  if (args.IsValid()) {
    // Options that change the computation without showing in the weights.
    const struct {
      const char* key;
      const char* allowed;
    } fixed[] = {{"use_abs_pos", "true"}, {"use_rel_pos", "true"}, {"qk_norm", "false"},
                 {"pre_norm", "false"},   {"act_layer", "gelu"},   {"init_values", nullptr},
                 {"norm_layer", nullptr}, {"block_fn", nullptr},   {"mlp_layer", nullptr}};
    for (const auto& f : fixed) {
      const CPLJSONObject v = args.GetObj(f.key);
      if (v.IsValid() && (!f.allowed || v.ToString() != f.allowed)) {
        CPLError(CE_Failure, CPLE_NotSupported,
                 "%s: model_args.%s=%s is not supported by the native SAM encoder; export the "
                 "model to TorchScript instead",
                 configPath.c_str(), f.key, v.ToString().c_str());
        return std::nullopt;
      }
    }
    if (args.GetObj("num_heads").IsValid()) {
      c.num_heads = args.GetInteger("num_heads");
      headsGiven = true;
    }
    if (args.GetObj("window_size").IsValid()) c.window_size = args.GetInteger("window_size");
    const CPLJSONArray global = args.GetArray("global_attn_indexes");
    if (global.IsValid()) {
      c.global_attn_indexes.clear();
      for (int i = 0; i < global.Size(); ++i)
        c.global_attn_indexes.push_back(global[i].ToInteger());
    }
  }

  const auto need = [&](const std::string& key, int dims) -> const torch::Tensor* {
    const auto it = sd.find(key);
    if (it == sd.end() || it->second.dim() != dims) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: missing key '%s' (or not %d-dimensional) for %s",
               weightsPath.c_str(), key.c_str(), dims, base.c_str());
      return nullptr;
    }
    return &it->second;
  };
  const torch::Tensor* proj = need("patch_embed.proj.weight", 4);
  const torch::Tensor* pos = need("pos_embed", 4);
  const torch::Tensor* fc1 = need("blocks.0.mlp.fc1.weight", 2);
  const torch::Tensor* neck = need("neck.0.weight", 4);
  if (!proj || !pos || !fc1 || !neck) return std::nullopt;
  c.embed_dim = static_cast<int>(proj->size(0));
  c.in_chans = static_cast<int>(proj->size(1));
  c.patch_size = static_cast<int>(proj->size(2));
  c.mlp_hidden = static_cast<int>(fc1->size(0));
  c.neck_chans = static_cast<int>(neck->size(0));
  if (pos->size(1) != pos->size(2)) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: pos_embed %s is not a square NHWC grid",
             weightsPath.c_str(), c10::str(pos->sizes()).c_str());
    return std::nullopt;
  }
  c.img_size = static_cast<int>(pos->size(1)) * c.patch_size;
  int depth = 0;
  while (sd.count("blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
  c.depth = depth;

  if (args.IsValid()) {
    if (!modelArgsMatch(args,
                        {{"depth", c.depth},
                         {"embed_dim", c.embed_dim},
                         {"patch_size", c.patch_size},
                         {"img_size", c.img_size}},
                        configPath, weightsPath))
      return std::nullopt;
  }
  if (!headsGiven && c.embed_dim != archEmbedDim) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: the weights have embed dim %d but %s is defined with %d, and config.json has no "
             "model_args.num_heads: the number of attention heads is unknown",
             weightsPath.c_str(), c.embed_dim, base.c_str(), archEmbedDim);
    return std::nullopt;
  }
  if (c.num_heads <= 0 || c.embed_dim % c.num_heads != 0 || c.window_size <= 0) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: embed_dim %d is not divisible by num_heads %d (or window_size %d is invalid)",
             weightsPath.c_str(), c.embed_dim, c.num_heads, c.window_size);
    return std::nullopt;
  }

  c.input_height = c.input_width = c.img_size;
  readPretrainedCfg(root, &c.input_height, &c.input_width, &c.mean, &c.std);
  return c;
}

SamAttentionImpl::SamAttentionImpl(int64_t dim, int64_t heads, int64_t rel_len)
    : num_heads(heads), scale(1.0 / std::sqrt(static_cast<double>(dim / heads))) {
  qkv = register_module("qkv", Linear(dim, 3 * dim));
  proj = register_module("proj", Linear(dim, dim));
  rel_pos_h = register_parameter("rel_pos_h", torch::zeros({rel_len, dim / heads}));
  rel_pos_w = register_parameter("rel_pos_w", torch::zeros({rel_len, dim / heads}));
}

torch::Tensor SamAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& rh,
                                        const torch::Tensor& rw) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t N = H * W, BH = B * num_heads;
  const torch::Tensor qkv_ =
      qkv(x).reshape({B, N, 3, num_heads, -1}).permute({2, 0, 3, 1, 4}).reshape({3, BH, N, -1});
  const torch::Tensor q = qkv_[0], k = qkv_[1], v = qkv_[2];
  torch::Tensor attn = (q * scale).matmul(k.transpose(-2, -1));
  // Decomposed relative position bias, from the unscaled q.
  const torch::Tensor rq = q.reshape({BH, H, W, -1});
  const torch::Tensor rel_h = torch::einsum("bhwc,hkc->bhwk", {rq, rh.to(q.scalar_type())});
  const torch::Tensor rel_w = torch::einsum("bhwc,wkc->bhwk", {rq, rw.to(q.scalar_type())});
  attn = (attn.view({BH, H, W, H, W}) + rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).view({BH, N, N});
  attn = attn.softmax(-1);
  const torch::Tensor out =
      attn.matmul(v).view({B, num_heads, H, W, -1}).permute({0, 2, 3, 1, 4}).reshape({B, H, W, C});
  return proj(out);
}

SamMlpImpl::SamMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", Linear(dim, hidden));
  fc2 = register_module("fc2", Linear(hidden, dim));
}

torch::Tensor SamMlpImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

SamBlockImpl::SamBlockImpl(const SamConfig& c, int index)
    : window_size(c.isGlobal(index) ? 0 : c.window_size) {
  // nn.LayerNorm's default eps (1e-5), as timm builds SAM's blocks.
  const auto ln = [&]() { return LayerNorm(c.embed_dim, 1e-5); };
  norm1 = register_module("norm1", ln());
  const int64_t rel_len = window_size > 0 ? 2 * window_size - 1 : 2 * c.gridSize() - 1;
  attn = register_module("attn", SamAttention(c.embed_dim, c.num_heads, rel_len));
  norm2 = register_module("norm2", ln());
  mlp = register_module("mlp", SamMlp(c.embed_dim, c.mlp_hidden));
}

std::pair<torch::Tensor, torch::Tensor> SamBlockImpl::relPosFor(int64_t h, int64_t w) {
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find({h, w});
  if (it == cache.end()) {
    it = cache
             .emplace(std::make_pair(h, w), std::make_pair(relPosTable(attn->rel_pos_h, h),
                                                           relPosTable(attn->rel_pos_w, w)))
             .first;
  }
  return it->second;
}

torch::Tensor SamBlockImpl::forward(const torch::Tensor& input) {
  const int64_t B = input.size(0), H = input.size(1), W = input.size(2), C = input.size(3);
  torch::Tensor x = norm1(input);
  if (window_size > 0) {
    const int64_t ws = window_size;
    const int64_t ph = (ws - H % ws) % ws, pw = (ws - W % ws) % ws;
    if (ph > 0 || pw > 0) x = torch::constant_pad_nd(x, {0, 0, 0, pw, 0, ph});
    const int64_t Hp = H + ph, Wp = W + pw;
    x = x.view({B, Hp / ws, ws, Wp / ws, ws, C})
            .permute({0, 1, 3, 2, 4, 5})
            .reshape({-1, ws, ws, C});
    const auto rel = relPosFor(ws, ws);
    x = attn(x, rel.first, rel.second);
    x = x.view({B, Hp / ws, Wp / ws, ws, ws, C})
            .permute({0, 1, 3, 2, 4, 5})
            .reshape({B, Hp, Wp, C});
    if (ph > 0 || pw > 0) x = x.narrow(1, 0, H).narrow(2, 0, W);
  } else {
    const auto rel = relPosFor(H, W);
    x = attn(x, rel.first, rel.second);
  }
  x = input + x;
  return x + mlp(norm2(x));
}

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double e) : eps(e) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x.permute({0, 2, 3, 1}), {x.size(1)}, weight, bias, eps)
      .permute({0, 3, 1, 2});
}

SamPatchEmbedImpl::SamPatchEmbedImpl(int64_t in_chans, int64_t dim, int64_t patch) {
  proj = register_module("proj", Conv2d(in_chans, dim, patch, patch));
}

SamVisionTransformerImpl::SamVisionTransformerImpl(const SamConfig& c) : config(c) {
  patch_embed =
      register_module("patch_embed", SamPatchEmbed(c.in_chans, c.embed_dim, c.patch_size));
  pos_embed =
      register_parameter("pos_embed", torch::zeros({1, c.gridSize(), c.gridSize(), c.embed_dim}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < c.depth; ++i) blocks->push_back(SamBlock(c, i));
  neck = register_module(
      "neck", torch::nn::Sequential(Conv2d(c.embed_dim, c.neck_chans, 1, 1, 0, /*bias=*/false),
                                    LayerNorm2d(c.neck_chans, 1e-6),
                                    Conv2d(c.neck_chans, c.neck_chans, 3, 1, 1, /*bias=*/false),
                                    LayerNorm2d(c.neck_chans, 1e-6)));
}

void SamVisionTransformerImpl::clearCaches() {
  {
    const std::lock_guard<std::mutex> lock(pos_mutex_);
    pos_cache_.clear();
  }
  for (const auto& block : *blocks) {
    auto* b = block->as<SamBlock>();
    const std::lock_guard<std::mutex> lock(b->mutex);
    b->cache.clear();
  }
}

torch::Tensor SamVisionTransformerImpl::posEmbedFor(int64_t h, int64_t w) {
  const std::lock_guard<std::mutex> lock(pos_mutex_);
  auto it = pos_cache_.find({h, w});
  if (it == pos_cache_.end()) {
    torch::Tensor pos = pos_embed;
    if (pos.size(1) != h || pos.size(2) != w) {
      // timm's resample_abs_pos_embed_nhwc: bicubic with antialiasing, in float32.
      pos = F::interpolate(pos.to(torch::kFloat32).permute({0, 3, 1, 2}),
                           F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{h, w})
                               .mode(torch::kBicubic)
                               .align_corners(false)
                               .antialias(true))
                .permute({0, 2, 3, 1})
                .to(pos_embed.scalar_type())
                .contiguous();
    }
    it = pos_cache_.emplace(std::make_pair(h, w), pos).first;
  }
  return it->second;
}

torch::Tensor SamVisionTransformerImpl::forwardFeatures(const torch::Tensor& input) {
  torch::Tensor x = patch_embed->proj(input).permute({0, 2, 3, 1});  // NHWC
  x = x + posEmbedFor(x.size(1), x.size(2));
  for (const auto& block : *blocks) x = block->as<SamBlock>()->forward(x);
  return neck->forward(x.permute({0, 3, 1, 2}));
}

torch::Tensor SamVisionTransformerImpl::forwardPatchGrid(const torch::Tensor& input) {
  return forwardFeatures(input).permute({0, 2, 3, 1});
}

bool loadSamWeights(SamVisionTransformer& model, const StateDict& sd,
                    const std::string& weightsPath) {
  if (!loadByName(*model, sd, weightsPath, model->config.architecture, {"head."})) return false;
  model->clearCaches();
  return true;
}

std::unique_ptr<Encoder> createSamEncoder(const SamConfig& stored, const StateDict& sd,
                                          const std::string& weightsPath,
                                          const EncoderOptions& options) {
  auto p = prepareWeights(sd, stored.in_chans, "patch_embed.proj.weight", weightsPath, options);
  if (!p) return nullptr;
  SamConfig config = stored;
  config.in_chans = p->in_chans;
  try {
    SamVisionTransformer model(config);
    if (!loadSamWeights(model, p->weights, weightsPath)) return nullptr;
    model->eval();
    model->to(p->device, p->dtype);
    EncoderInfo info;
    info.name = config.architecture;
    info.weights = weightsPath;
    info.in_chans = config.in_chans;
    info.input_height = config.input_height;
    info.input_width = config.input_width;
    info.patch_size = config.patch_size;
    info.embed_dim = config.neck_chans;
    info.num_prefix_tokens = 0;
    info.dynamic_input = true;  // pos_embed and global rel-pos tables are resized per grid
    info.mean = config.mean;
    info.std = config.std;
    info.device = p->device.str();
    info.dtype = dtypeName(p->dtype);
    return std::make_unique<ModuleEncoder<SamVisionTransformer>>(std::move(model), p->device,
                                                                 p->dtype, std::move(info));
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: cannot build the SAM encoder: %s",
             weightsPath.c_str(), e.what());
    return nullptr;
  }
}

}  // namespace vitfeat
