#include "models/rs_encoders.h"

#include <cpl_error.h>
#include <cpl_json.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "models/vit_config.h"
#include "models/vit_encoder.h"

namespace vitfeat {

namespace {

namespace F = torch::nn::functional;

constexpr const char* kMocoPrefix = "module.base_encoder.";

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// config.json beside a release checkpoint, in the fixtures' form; an invalid
// object when there is none.
CPLJSONObject readRsConfig(const std::string& configPath) {
  CPLJSONDocument doc;
  if (configPath.empty() || !doc.Load(configPath)) return CPLJSONObject();
  return doc.GetRoot();
}

// The structure shared by both: release defaults, config.json's pangaea_config
// overrides, the weights' shapes. nullopt after a CPLError.
std::optional<ViTConfig> trunkConfig(const std::string& name, const CPLJSONObject& root,
                                     const StateDict& vit, const std::string& weightsPath,
                                     int releaseDim, int releaseHeads) {
  ViTConfig c;
  c.architecture = name;
  const auto pos = vit.find("pos_embed");
  const auto fc1 = vit.find("blocks.0.mlp.fc1.weight");
  if (pos == vit.end() || fc1 == vit.end() || !vit.count("cls_token") || pos->second.dim() != 3) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: not a %s checkpoint: cls_token, pos_embed or blocks.0.mlp.fc1.weight is missing",
             weightsPath.c_str(), name.c_str());
    return std::nullopt;
  }
  c.embed_dim = static_cast<int>(pos->second.size(2));
  c.mlp_hidden = static_cast<int>(fc1->second.size(0));
  int depth = 0;
  while (vit.count("blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
  c.depth = depth;
  c.class_token = true;
  c.no_embed_class = false;  // pos_embed has a class slot
  const int64_t patches = pos->second.size(1) - 1;
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(patches))));
  if (grid * grid != patches) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: pos_embed %s is not a class slot plus a square grid",
             weightsPath.c_str(), c10::str(pos->second.sizes()).c_str());
    return std::nullopt;
  }

  const CPLJSONObject pc = root.GetObj("pangaea_config");
  bool headsGiven = false;
  c.num_heads = releaseHeads;
  if (pc.IsValid()) {
    if (pc.GetObj("num_heads").IsValid()) {
      c.num_heads = pc.GetInteger("num_heads");
      headsGiven = true;
    }
    const struct {
      const char* key;
      int actual;
    } checks[] = {{"depth", c.depth}, {"embed_dim", c.embed_dim}};
    for (const auto& chk : checks) {
      const CPLJSONObject v = pc.GetObj(chk.key);
      if (v.IsValid() && v.ToInteger() != chk.actual) {
        CPLError(CE_Failure, CPLE_AppDefined, "config.json: pangaea_config.%s=%d but %s has %d",
                 chk.key, v.ToInteger(), weightsPath.c_str(), chk.actual);
        return std::nullopt;
      }
    }
  }
  if (!headsGiven && c.embed_dim != releaseDim) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: read as %s, its embed dim is %d (the release has %d) and no config.json "
             "beside it gives pangaea_config.num_heads, so the number of attention heads is "
             "unknown; if it is not such a checkpoint, do not force ENCODER (auto recognises "
             "the family)",
             weightsPath.c_str(), name.c_str(), c.embed_dim, releaseDim);
    return std::nullopt;
  }
  if (c.num_heads <= 0 || c.embed_dim % c.num_heads != 0) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: embed dim %d is not divisible by %d heads",
             weightsPath.c_str(), c.embed_dim, c.num_heads);
    return std::nullopt;
  }
  c.mean = {0.0f};  // no pretrained statistics travel with these checkpoints
  c.std = {1.0f};
  return c;
}

// Trained size from pos_embed (a class slot plus a square grid, checked by
// trunkConfig) and the input size pangaea feeds (its input_size, else that).
void finishSize(ViTConfig& c, const CPLJSONObject& root, const StateDict& vit) {
  const int64_t patches = vit.at("pos_embed").size(1) - 1;
  c.img_size =
      static_cast<int>(std::llround(std::sqrt(static_cast<double>(patches)))) * c.patch_size;
  const CPLJSONObject pc = root.GetObj("pangaea_config");
  c.input_height = c.input_width =
      pc.IsValid() && pc.GetObj("input_size").IsValid() ? pc.GetInteger("input_size") : c.img_size;
}

}  // namespace

RsEncoderKind detectRsEncoder(const std::string& configPath, const StateDict& sd) {
  const CPLJSONObject root = readRsConfig(configPath);
  if (root.IsValid()) {
    const std::string encoder = root.GetString("encoder");
    if (encoder == "ssl4eo_moco") return RsEncoderKind::ssl4eo_moco;
    if (encoder == "dofa") return RsEncoderKind::dofa;
    if (!root.GetString("architecture").empty()) return RsEncoderKind::none;
  }
  for (const auto& kv : sd) {
    if (startsWith(kv.first, kMocoPrefix)) return RsEncoderKind::ssl4eo_moco;
    if (startsWith(kv.first, "patch_embed.weight_generator.")) return RsEncoderKind::dofa;
  }
  return RsEncoderKind::none;
}

std::optional<double> dofaSentinel2Wavelength(int bandNumber) {
  static const double kS2[] = {0.44,  0.49,  0.56,  0.665, 0.705, 0.74,
                               0.783, 0.832, 0.945, 1.373, 1.61,  2.2};
  if (bandNumber < 1 || bandNumber > 12) return std::nullopt;
  return kS2[bandNumber - 1];
}

torch::Tensor cycleInputChannels(const torch::Tensor& weight, int64_t n) {
  const torch::Tensor index = torch::arange(n, torch::kLong).remainder(weight.size(1));
  return weight.index_select(1, index).contiguous();
}

std::unique_ptr<Encoder> createSsl4eoMocoEncoder(const std::string& configPath, const StateDict& sd,
                                                 const std::string& weightsPath,
                                                 const EncoderOptions& options) {
  // pangaea keeps module.base_encoder.{cls_token, pos_embed, patch_embed.proj.*,
  // blocks.*}; the final norm, the projector head, the momentum encoder and the
  // predictor are not part of the features.
  bool prefixed = false;
  for (const auto& kv : sd) prefixed = prefixed || startsWith(kv.first, kMocoPrefix);
  StateDict vit;
  for (const auto& kv : sd) {
    std::string key = kv.first;
    if (prefixed) {
      if (!startsWith(key, kMocoPrefix)) continue;  // momentum_encoder, predictor
      key = key.substr(std::string(kMocoPrefix).size());
    }
    if (startsWith(key, "norm.") || startsWith(key, "head.")) continue;
    vit.emplace(key, kv.second);
  }
  const CPLJSONObject root = readRsConfig(configPath);
  auto c = trunkConfig("ssl4eo_moco_vit_patch16", root, vit, weightsPath, 384, 6);
  if (!c) return nullptr;
  const auto proj = vit.find("patch_embed.proj.weight");
  if (proj == vit.end() || proj->second.dim() != 4) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: missing key 'patch_embed.proj.weight'",
             weightsPath.c_str());
    return nullptr;
  }
  c->patch_size = static_cast<int>(proj->second.size(2));
  c->in_chans = static_cast<int>(proj->second.size(1));
  c->final_norm = false;
  finishSize(*c, root, vit);
  c->architecture = c->embed_dim == 384 && c->depth == 12 ? "ssl4eo_moco_vit_small_patch16"
                                                          : "ssl4eo_moco_vit_patch16";
  EncoderOptions o = options;
  if (o.in_chans > 0 && o.in_chans != c->in_chans) {
    vit["patch_embed.proj.weight"] = cycleInputChannels(proj->second, o.in_chans);
    c->in_chans = o.in_chans;
  }
  o.in_chans = c->in_chans;
  return createViTEncoder(*c, vit, weightsPath, o);
}

std::pair<torch::Tensor, torch::Tensor> dofaDynamicWeights(const StateDict& sd,
                                                           const std::vector<double>& wavelengths,
                                                           int64_t embed_dim, int64_t kernel) {
  torch::NoGradGuard no_grad;
  const auto t = [&](const std::string& key) -> torch::Tensor {
    const auto it = sd.find(key);
    if (it == sd.end()) throw std::runtime_error("missing key '" + key + "'");
    return it->second.to(torch::kFloat32);
  };
  const std::string g = "patch_embed.weight_generator.";
  const std::string layer = g + "transformer_encoder.layers.0.";
  const auto linear = [&](const torch::Tensor& x, const std::string& name) {
    return F::linear(x, t(name + ".weight"), t(name + ".bias"));
  };

  // 1. sin-cos embedding of the wavelengths in nanometres, float32 throughout.
  const int64_t planes = t(g + "weight_tokens").size(1);  // 128
  const auto C = static_cast<int64_t>(wavelengths.size());
  const torch::Tensor w = torch::tensor(wavelengths, torch::kFloat64).to(torch::kFloat32);
  const torch::Tensor p = w * 1000;
  torch::Tensor omega = torch::arange(planes / 2, torch::kFloat32) / (planes / 2.0);
  omega = 1.0 / torch::pow(10000.0, omega);
  const torch::Tensor out = p.unsqueeze(1) * omega.unsqueeze(0);
  const torch::Tensor e = torch::cat({torch::sin(out), torch::cos(out)}, 1);
  // 2. residual MLP.
  const torch::Tensor h = e + torch::relu(linear(torch::relu(linear(e, "patch_embed.fclayer.w1")),
                                                 "patch_embed.fclayer.w2"));
  // 3. one post-norm nn.TransformerEncoderLayer over [weight tokens; h; bias token].
  torch::Tensor x = torch::cat({t(g + "weight_tokens"), h, t(g + "bias_token")}, 0);
  const int64_t L = x.size(0), heads = 4, hd = planes / heads;
  const auto qkv =
      F::linear(x, t(layer + "self_attn.in_proj_weight"), t(layer + "self_attn.in_proj_bias"))
          .chunk(3, -1);
  const auto split = [&](const torch::Tensor& a) {
    return a.contiguous().view({L, heads, hd}).transpose(0, 1);
  };
  const torch::Tensor q = split(qkv[0]) / std::sqrt(static_cast<double>(hd));
  const torch::Tensor attn = torch::bmm(q, split(qkv[1]).transpose(-2, -1)).softmax(-1);
  const torch::Tensor o =
      torch::bmm(attn, split(qkv[2])).transpose(0, 1).contiguous().view({L, planes});
  const auto norm = [&](const torch::Tensor& a, const std::string& name) {
    return torch::layer_norm(a, {planes}, t(layer + name + ".weight"), t(layer + name + ".bias"),
                             1e-5);
  };
  x = norm(x + linear(o, layer + "self_attn.out_proj"), "norm1");
  x = norm(x + linear(torch::gelu(linear(x, layer + "linear1")), layer + "linear2"), "norm2");
  // 4. weights and bias of the patch-embedding conv.
  const int64_t tokens = t(g + "weight_tokens").size(0);
  const torch::Tensor flat = linear(x.narrow(0, tokens, C) + h, g + "fc_weight");
  const torch::Tensor weight =
      flat.view({C, kernel, kernel, embed_dim}).permute({3, 0, 1, 2}).contiguous() * 0.01;
  const torch::Tensor bias = linear(x[L - 1], g + "fc_bias").view({embed_dim}) * 0.01;
  return {weight, bias};
}

std::unique_ptr<Encoder> createDofaEncoder(const std::string& configPath, const StateDict& sd,
                                           const std::string& weightsPath,
                                           const EncoderOptions& options) {
  const std::vector<double>& wl = options.wavelengths;
  if (wl.empty()) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: DOFA needs the wavelength of every input band (micrometres, e.g. "
             "0.49,0.56,0.665,0.832 for Sentinel-2 B2,B3,B4,B8): none were given",
             weightsPath.c_str());
    return nullptr;
  }
  if (options.in_chans > 0 && options.in_chans != static_cast<int>(wl.size())) {
    CPLError(CE_Failure, CPLE_IllegalArg, "%s: %d input bands but %d wavelengths",
             weightsPath.c_str(), options.in_chans, static_cast<int>(wl.size()));
    return nullptr;
  }
  for (const double v : wl) {
    if (!(v > 0.0 && v < 100.0)) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "%s: wavelength %g is not a plausible value in micrometres", weightsPath.c_str(), v);
      return nullptr;
    }
  }
  // The ViT trunk's keys; mask_token and projector.* are not part of the features.
  StateDict vit;
  static const std::set<std::string> generator = {
      "weight_generator.weight_tokens",
      "weight_generator.bias_token",
      "weight_generator.transformer_encoder.layers.0.self_attn.in_proj_weight",
      "weight_generator.transformer_encoder.layers.0.self_attn.in_proj_bias",
      "weight_generator.transformer_encoder.layers.0.self_attn.out_proj.weight",
      "weight_generator.transformer_encoder.layers.0.self_attn.out_proj.bias",
      "weight_generator.transformer_encoder.layers.0.linear1.weight",
      "weight_generator.transformer_encoder.layers.0.linear1.bias",
      "weight_generator.transformer_encoder.layers.0.linear2.weight",
      "weight_generator.transformer_encoder.layers.0.linear2.bias",
      "weight_generator.transformer_encoder.layers.0.norm1.weight",
      "weight_generator.transformer_encoder.layers.0.norm1.bias",
      "weight_generator.transformer_encoder.layers.0.norm2.weight",
      "weight_generator.transformer_encoder.layers.0.norm2.bias",
      "weight_generator.fc_weight.weight",
      "weight_generator.fc_weight.bias",
      "weight_generator.fc_bias.weight",
      "weight_generator.fc_bias.bias",
      "fclayer.w1.weight",
      "fclayer.w1.bias",
      "fclayer.w2.weight",
      "fclayer.w2.bias"};
  for (const auto& kv : sd) {
    const std::string& k = kv.first;
    if (k == "mask_token" || startsWith(k, "projector.")) continue;
    if (startsWith(k, "patch_embed.")) {
      if (generator.count(k.substr(std::string("patch_embed.").size()))) continue;
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: not a DOFA checkpoint: its patch embedding holds '%s', where DOFA's "
               "generates its weights (patch_embed.weight_generator.*); if it is not DOFA, do "
               "not force ENCODER (auto recognises the family)",
               weightsPath.c_str(), k.c_str());
      return nullptr;
    }
    vit.emplace(k, kv.second);
  }
  const CPLJSONObject root = readRsConfig(configPath);
  auto c = trunkConfig("dofa_vit_patch16", root, vit, weightsPath, 768, 12);
  if (!c) return nullptr;
  const auto fcw = sd.find("patch_embed.weight_generator.fc_weight.weight");
  if (fcw == sd.end()) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: missing key 'patch_embed.weight_generator.fc_weight.weight'",
             weightsPath.c_str());
    return nullptr;
  }
  const int64_t k2 = fcw->second.size(0) / c->embed_dim;
  const auto kernel = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(k2))));
  if (kernel * kernel * c->embed_dim != fcw->second.size(0)) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: fc_weight has %lld outputs, not kernel^2 x embed dim %d", weightsPath.c_str(),
             static_cast<long long>(fcw->second.size(0)), c->embed_dim);
    return nullptr;
  }
  c->patch_size = static_cast<int>(kernel);
  c->patch_padding = 1;  // DOFA's F.conv2d(..., stride=kernel, padding=1)
  c->in_chans = static_cast<int>(wl.size());
  c->final_norm = true;  // pangaea's DOFA_Encoder always applies norm
  finishSize(*c, root, vit);
  c->architecture =
      c->embed_dim == 768 && c->depth == 12 ? "dofa_vit_base_patch16" : "dofa_vit_patch16";
  try {
    const auto [weight, bias] = dofaDynamicWeights(sd, wl, c->embed_dim, kernel);
    vit["patch_embed.proj.weight"] = weight;
    vit["patch_embed.proj.bias"] = bias;
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: cannot build DOFA's patch embedding: %s",
             weightsPath.c_str(), e.what());
    return nullptr;
  }
  EncoderOptions o = options;
  o.in_chans = c->in_chans;
  return createViTEncoder(*c, vit, weightsPath, o);
}

}  // namespace vitfeat
