#include "models/vit_config.h"

#include <cpl_error.h>
#include <cpl_json.h>

#include <cmath>
#include <regex>
#include <set>

namespace vitfeat {

namespace {

struct Size {
  const char* name;
  int embed_dim, depth, num_heads;
};
// timm's VisionTransformer size presets (mlp_ratio 4 throughout).
constexpr Size kSizes[] = {{"tiny", 192, 12, 3},   {"small", 384, 12, 6},   {"base", 768, 12, 12},
                           {"medium", 512, 12, 8}, {"large", 1024, 24, 16}, {"huge", 1280, 32, 16}};

bool isPerfectSquare(int64_t n, int64_t* root) {
  if (n <= 0) return false;
  const auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (r * r != n) return false;
  *root = r;
  return true;
}

// model_args that change the computation in ways the weights do not show.
bool checkModelArgs(const CPLJSONObject& args, const std::string& where) {
  const struct {
    const char* key;
    const char* expected;
  } fixed[] = {{"pre_norm", "false"},    {"qk_norm", "false"},    {"dynamic_img_pad", "false"},
               {"fc_norm", nullptr},     {"act_layer", "gelu"},   {"pos_embed", "learn"},
               {"class_token", nullptr}, {"global_pool", nullptr}};
  for (const auto& f : fixed) {
    const CPLJSONObject v = args.GetObj(f.key);
    if (!v.IsValid() || !f.expected) continue;
    const std::string value = v.ToString();
    if (value != f.expected && !(std::string(f.expected) == "false" && value == "0")) {
      CPLError(CE_Failure, CPLE_NotSupported,
               "%s: model_args.%s=%s is not supported by the native ViT (supported: %s); export "
               "the model to TorchScript instead",
               where.c_str(), f.key, value.c_str(), f.expected);
      return false;
    }
  }
  return true;
}

std::vector<float> floatList(const CPLJSONArray& a) {
  std::vector<float> out;
  for (int i = 0; i < a.Size(); ++i) out.push_back(static_cast<float>(a[i].ToDouble()));
  return out;
}

}  // namespace

std::optional<ViTConfig> vitConfigFromArchitecture(const std::string& architecture) {
  static const std::regex pattern(
      R"(^(vit|deit)_(tiny|small|base|medium|large|huge)_patch(\d+)(_reg(\d+))?(_[a-z0-9_]*)?$)");
  std::smatch m;
  const std::string base = architecture.substr(0, architecture.find('.'));  // drop ".tag"
  if (!std::regex_match(base, m, pattern)) {
    CPLError(CE_Failure, CPLE_NotSupported,
             "architecture '%s' is not a plain timm VisionTransformer "
             "(vit_{tiny,small,base,medium,large,huge}_patch<N>_*, deit_*); export it to "
             "TorchScript and pass the .pt file as MODEL",
             architecture.c_str());
    return std::nullopt;
  }
  ViTConfig c;
  c.architecture = base;
  for (const Size& s : kSizes) {
    if (m[2] == s.name) {
      c.embed_dim = s.embed_dim;
      c.depth = s.depth;
      c.num_heads = s.num_heads;
    }
  }
  c.mlp_hidden = 4 * c.embed_dim;
  c.patch_size = std::stoi(m[3]);
  const std::string suffix = m[6];
  const bool dinov2 = suffix.find("dinov2") != std::string::npos;
  if (m[5].matched) {
    c.reg_tokens = std::stoi(m[5]);
    c.no_embed_class = true;  // timm's register models add pos_embed before the prefix
  }
  if (dinov2) {
    c.layer_scale = true;
    c.img_size = 518;
  }
  static const std::regex size_re(R"(_(\d{3,4})(_|$))");
  std::smatch sm;
  if (std::regex_search(suffix, sm, size_re)) c.img_size = std::stoi(sm[1]);
  c.input_height = c.input_width = c.img_size;
  if (m[1] == "vit" && !dinov2) {
    // augreg checkpoints normalise with 0.5/0.5; others override via config.json.
    c.mean = {0.5f, 0.5f, 0.5f};
    c.std = {0.5f, 0.5f, 0.5f};
  }
  return c;
}

std::optional<ViTConfig> vitConfigFromFiles(const std::string& configPath, const StateDict& sd,
                                            const std::string& weightsPath) {
  CPLJSONObject root;
  std::string architecture;
  if (!configPath.empty()) {
    CPLJSONDocument doc;
    if (!doc.Load(configPath)) {
      CPLError(CE_Failure, CPLE_OpenFailed, "%s: cannot parse as JSON", configPath.c_str());
      return std::nullopt;
    }
    root = doc.GetRoot();
    architecture = root.GetString("architecture");
    if (architecture.empty()) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: no \"architecture\" (timm model name)",
               configPath.c_str());
      return std::nullopt;
    }
  }

  ViTConfig c;
  if (!architecture.empty()) {
    auto fromName = vitConfigFromArchitecture(architecture);
    if (!fromName) return std::nullopt;
    c = *fromName;
  } else {
    CPLError(CE_Warning, CPLE_AppDefined,
             "%s: no config.json beside it: structure inferred from the weights, ImageNet "
             "mean/std and the trained size used for normalisation and input",
             weightsPath.c_str());
    c.architecture = "vit (inferred from " + weightsPath + ")";
  }

  const CPLJSONObject args = root.GetObj("model_args");
  if (args.IsValid() && !checkModelArgs(args, configPath)) return std::nullopt;

  // Structure from the weights themselves.
  const auto need = [&](const char* key) -> const torch::Tensor* {
    const auto it = sd.find(key);
    if (it == sd.end()) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: missing key '%s'", weightsPath.c_str(), key);
      return nullptr;
    }
    return &it->second;
  };
  const torch::Tensor* proj = need("patch_embed.proj.weight");
  const torch::Tensor* pos = need("pos_embed");
  const torch::Tensor* fc1 = need("blocks.0.mlp.fc1.weight");
  if (!proj || !pos || !fc1) return std::nullopt;
  if (proj->dim() != 4 || proj->size(2) != proj->size(3) || pos->dim() != 3) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: unexpected shape of patch_embed.proj.weight or pos_embed", weightsPath.c_str());
    return std::nullopt;
  }
  c.embed_dim = static_cast<int>(proj->size(0));
  c.in_chans = static_cast<int>(proj->size(1));
  c.patch_size = static_cast<int>(proj->size(2));
  c.mlp_hidden = static_cast<int>(fc1->size(0));
  c.qkv_bias = sd.count("blocks.0.attn.qkv.bias") > 0;
  c.layer_scale = sd.count("blocks.0.ls1.gamma") > 0;
  c.class_token = sd.count("cls_token") > 0;
  const auto reg = sd.find("reg_token");
  c.reg_tokens = reg == sd.end() ? 0 : static_cast<int>(reg->second.size(1));
  int depth = 0;
  while (sd.count("blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
  c.depth = depth;

  // Does pos_embed include the prefix tokens? timm: only when no_embed_class is false.
  const int64_t length = pos->size(1);
  int64_t grid = 0;
  if (args.IsValid() && args.GetObj("no_embed_class").IsValid())
    c.no_embed_class = args.GetBool("no_embed_class");
  else if (isPerfectSquare(length - c.numPrefixTokens(), &grid) && c.numPrefixTokens() > 0)
    c.no_embed_class = false;
  else if (isPerfectSquare(length, &grid))
    c.no_embed_class = true;
  const int64_t patches = length - (c.no_embed_class ? 0 : c.numPrefixTokens());
  if (!isPerfectSquare(patches, &grid)) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: pos_embed has %lld tokens, which is not a square grid plus %d prefix tokens",
             weightsPath.c_str(), static_cast<long long>(length), c.numPrefixTokens());
    return std::nullopt;
  }
  c.img_size = static_cast<int>(grid) * c.patch_size;

  if (args.IsValid()) {
    if (args.GetObj("num_heads").IsValid()) c.num_heads = args.GetInteger("num_heads");
    const struct {
      const char* key;
      int actual;
    } checks[] = {{"depth", c.depth}, {"embed_dim", c.embed_dim}, {"patch_size", c.patch_size}};
    for (const auto& chk : checks) {
      const CPLJSONObject v = args.GetObj(chk.key);
      if (v.IsValid() && v.ToInteger() != chk.actual) {
        CPLError(CE_Failure, CPLE_AppDefined, "%s: model_args.%s=%d but the weights in %s have %d",
                 configPath.c_str(), chk.key, v.ToInteger(), weightsPath.c_str(), chk.actual);
        return std::nullopt;
      }
    }
  }
  if (architecture.empty()) c.num_heads = std::max(1, c.embed_dim / 64);
  if (c.num_heads <= 0 || c.embed_dim % c.num_heads != 0) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: embed_dim %d is not divisible by num_heads %d",
             weightsPath.c_str(), c.embed_dim, c.num_heads);
    return std::nullopt;
  }

  // Input size and normalisation from pretrained_cfg.
  c.input_height = c.input_width = c.img_size;
  const CPLJSONObject cfg = root.GetObj("pretrained_cfg");
  if (cfg.IsValid()) {
    const CPLJSONArray size = cfg.GetArray("input_size");
    if (size.IsValid() && size.Size() == 3) {
      c.input_height = size[1].ToInteger();
      c.input_width = size[2].ToInteger();
    }
    const CPLJSONArray mean = cfg.GetArray("mean");
    const CPLJSONArray std = cfg.GetArray("std");
    if (mean.IsValid() && std.IsValid() && mean.Size() > 0 && mean.Size() == std.Size()) {
      c.mean = floatList(mean);
      c.std = floatList(std);
    }
  }
  return c;
}

}  // namespace vitfeat
