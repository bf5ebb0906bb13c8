#include "models/vit_config.h"

#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_string.h>
#include <cpl_vsi.h>

#include <cmath>
#include <regex>
#include <set>

namespace vitfeat {

namespace {

struct Size {
  const char* name;
  int embed_dim, depth, num_heads;
};
// timm's VisionTransformer widths by the size word of the architecture name
// (vit_<size>_patch<N>_...), as its model registrations define them.
constexpr Size kVitSizes[] = {
    {"tiny", 192, 12, 3},       {"small", 384, 12, 6},       {"base", 768, 12, 12},
    {"medium", 512, 12, 8},     {"mediumd", 512, 20, 8},     {"betwixt", 640, 12, 10},
    {"large", 1024, 24, 16},    {"huge", 1280, 32, 16},      {"giant", 1408, 40, 16},
    {"gigantic", 1664, 48, 16}, {"wee", 256, 14, 4},         {"little", 320, 14, 5},
    {"so150m", 896, 18, 14},    {"so150m2", 832, 21, 13},    {"so400m", 1152, 27, 16},
    {"giantopt", 1536, 40, 16}, {"intern300m", 1024, 24, 16}};
constexpr Size kDeitSizes[] = {{"tiny", 192, 12, 3}, {"small", 384, 12, 6}, {"base", 768, 12, 12}};
constexpr Size kDeit3Sizes[] = {{"small", 384, 12, 6},
                                {"medium", 512, 12, 8},
                                {"base", 768, 12, 12},
                                {"large", 1024, 24, 16},
                                {"huge", 1280, 32, 16}};
constexpr Size kFlexiSizes[] = {
    {"small", 384, 12, 6}, {"base", 768, 12, 12}, {"large", 1024, 24, 16}};

// SigLIP towers timm defines with act_layer='gelu_tanh'; the other SigLIP
// names it registers use the exact erf GELU. A SigLIP name in neither list is
// refused: the activation cannot be read from the weights.
const std::set<std::string> kSiglipTanh = {
    "vit_base_patch32_siglip_256",         "vit_large_patch16_siglip_512",
    "vit_so400m_patch16_siglip_256",       "vit_so400m_patch16_siglip_384",
    "vit_so400m_patch16_siglip_512",       "vit_giantopt_patch16_siglip_256",
    "vit_giantopt_patch16_siglip_384",     "vit_base_patch32_siglip_gap_256",
    "vit_large_patch16_siglip_gap_512",    "vit_so400m_patch16_siglip_gap_256",
    "vit_so400m_patch16_siglip_gap_384",   "vit_so400m_patch16_siglip_gap_512",
    "vit_giantopt_patch16_siglip_gap_256", "vit_giantopt_patch16_siglip_gap_384"};
const std::set<std::string> kSiglipErf = {
    "vit_base_patch16_siglip_224",       "vit_base_patch16_siglip_256",
    "vit_base_patch16_siglip_384",       "vit_base_patch16_siglip_512",
    "vit_large_patch16_siglip_256",      "vit_large_patch16_siglip_384",
    "vit_so400m_patch14_siglip_224",     "vit_so400m_patch14_siglip_378",
    "vit_so400m_patch14_siglip_384",     "vit_base_patch16_siglip_gap_224",
    "vit_base_patch16_siglip_gap_256",   "vit_base_patch16_siglip_gap_384",
    "vit_base_patch16_siglip_gap_512",   "vit_large_patch16_siglip_gap_256",
    "vit_large_patch16_siglip_gap_384",  "vit_so400m_patch14_siglip_gap_224",
    "vit_so400m_patch14_siglip_gap_378", "vit_so400m_patch14_siglip_gap_384",
    "vit_so400m_patch14_siglip_gap_448", "vit_so400m_patch14_siglip_gap_896"};

constexpr const char* kSupported =
    "supported: timm's plain VisionTransformer (vit_{tiny,small,base,medium,mediumd,betwixt,"
    "large,huge,giant,gigantic,wee,little,so150m,so150m2,so400m,giantopt}_patch<N>_*: augreg, "
    "DINO, MAE, DINOv2 with or without registers, SigLIP, register/average-pool models), "
    "deit_*, deit3_*, flexivit_*, eva_large_patch14_{196,336}, samvit_* (SAM image encoder)";

// Families whose timm definition computes something the native ViT does not,
// although their checkpoints may carry the same keys. nullptr: not refused here.
const char* refusedFamily(const std::string& name) {
  static const struct {
    const char* pattern;
    const char* why;
  } refused[] = {
      {R"(_clip_)",
       "CLIP image towers (pre_norm: a LayerNorm before the blocks, LayerNorm eps 1e-5, "
       "QuickGELU for *_quickgelu_*)"},
      {R"(_rpn_)",
       "residual post-norm blocks (ResPostBlock: x + norm1(attn(x)), same keys as the pre-norm "
       "blocks, different computation)"},
      {R"(_18x2_)", "parallel blocks (ParallelThingsBlock)"},
      {R"(_xp_|^vit_p?d?pwee_|^vit_pwee_)",
       "parallel-scaling blocks (ParallelScalingBlock, RmsNorm, qk-norm)"},
      {R"(^vit_d(wee|little)_)", "differential attention (DiffAttention)"},
      {R"(^vit_giant_patch14_(reg\d+_)?(dinov2|tipsv2)|^vit_giant_patch14_reg1_tipsv2)",
       "SwiGLU MLP (SwiGLUPacked: fc1 holds gate and value, SiLU gating; the keys look like a "
       "plain MLP's)"},
      {R"(_relpos_|_srelpos_|^vit_relpos|^vit_srelpos)", "relative-position ViTs"},
      {R"(_rope_|_rope$|^vit_pe_)", "rotary position embeddings"},
      {R"(^vit_[a-z]+_(r\d+|r_|resnet))", "hybrid CNN-stem ViTs (vit_*_r50_*, *_resnet*)"},
      {R"(_distilled_)", "DeiT with a distillation token"},
  };
  for (const auto& r : refused)
    if (std::regex_search(name, std::regex(r.pattern))) return r.why;
  return nullptr;
}

const Size* findSize(const Size* begin, const Size* end, const std::string& word) {
  for (const Size* s = begin; s != end; ++s)
    if (word == s->name) return s;
  return nullptr;
}

// A number that a regex matched as digits in an architecture name, or nullopt
// when it is outside [minimum, maximum] (std::stoi would throw past INT_MAX).
std::optional<int> nameNumber(const std::string& digits, int minimum, int maximum) {
  int64_t v = 0;
  for (const char ch : digits) {
    v = v * 10 + (ch - '0');
    if (v > maximum) return std::nullopt;
  }
  if (digits.empty() || v < minimum) return std::nullopt;
  return static_cast<int>(v);
}

// "[a, b, c]": a tensor's shape for messages.
std::string shapeText(const torch::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

bool isPerfectSquare(int64_t n, int64_t* root) {
  if (n <= 0) return false;
  const auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (r * r != n) return false;
  *root = r;
  return true;
}

// model_args that change the computation in ways the weights do not show (or
// not clearly). act_layer gelu / gelu_tanh is applied by the caller.
bool checkModelArgs(const CPLJSONObject& args, const std::string& where) {
  const struct {
    const char* key;
    std::vector<std::string> allowed;  // empty: any value refused
  } fixed[] = {{"pre_norm", {"false", "0"}},
               {"qk_norm", {"false", "0"}},
               {"dynamic_img_pad", {"false", "0"}},
               {"act_layer", {"gelu", "gelu_tanh"}},
               {"pos_embed", {"learn"}},
               {"attn_layer", {"", "attn"}},
               {"scale_attn_norm", {"false", "0"}},
               {"scale_mlp_norm", {"false", "0"}},
               {"use_rope", {"false", "0"}},
               {"mlp_layer", {}},
               {"block_fn", {}},
               {"norm_layer", {}},
               {"embed_layer", {}},
               {"embed_norm_layer", {}}};
  for (const auto& f : fixed) {
    const CPLJSONObject v = args.GetObj(f.key);
    if (!v.IsValid()) continue;
    const std::string value = v.ToString();
    bool ok = false;
    for (const auto& a : f.allowed) ok = ok || value == a;
    if (!ok) {
      std::string supported;
      for (const auto& a : f.allowed) supported += (supported.empty() ? "" : ", ") + a;
      CPLError(CE_Failure, CPLE_NotSupported,
               "%s: model_args.%s=%s is not supported by the native ViT (supported: %s); export "
               "the model to TorchScript instead",
               where.c_str(), f.key, value.c_str(),
               supported.empty() ? "none, the default only" : supported.c_str());
      return false;
    }
  }
  return true;
}

// Heads of timm's plain ViT sizes by width, for weights without config.json.
int headsForWidth(int embed_dim) {
  for (const Size& s : kVitSizes)
    if (s.embed_dim == embed_dim && std::string(s.name) != "intern300m") return s.num_heads;
  return 0;
}

std::vector<float> floatList(const CPLJSONArray& a) {
  std::vector<float> out;
  for (int i = 0; i < a.Size(); ++i) out.push_back(static_cast<float>(a[i].ToDouble()));
  return out;
}

// True when the file reads and is not UTF-8 (UTF-16 with a byte order mark,
// Latin-1...), which a JSON file must be.
bool readsAsNonUtf8(const std::string& path) {
  GByte* bytes = nullptr;
  vsi_l_offset size = 0;
  const CPLErrorStateBackuper keepErrorState;
  const CPLErrorHandlerPusher quiet(CPLQuietErrorHandler);
  if (!VSIIngestFile(nullptr, path.c_str(), &bytes, &size, 1 << 26)) return false;
  const bool utf8 = CPLIsUTF8(reinterpret_cast<const char*>(bytes), static_cast<int>(size));
  VSIFree(bytes);
  return !utf8;
}

}  // namespace

std::optional<ViTConfig> vitConfigFromArchitecture(const std::string& architecture) {
  // libstdc++'s std::regex recurses once per character matched by `.*`: a name
  // of some ten thousand characters would overflow the stack. timm's are < 80.
  constexpr size_t kMaxNameLength = 256;
  if (architecture.size() > kMaxNameLength) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "architecture '%.40s...' is %zu characters long, which is no timm model name (at "
             "most %zu)",
             architecture.c_str(), architecture.size(), kMaxNameLength);
    return std::nullopt;
  }
  const std::string base = architecture.substr(0, architecture.find('.'));  // drop ".tag"
  const auto refuse = [&](const std::string& why) -> std::optional<ViTConfig> {
    CPLError(CE_Failure, CPLE_NotSupported,
             "architecture '%s' is not computed exactly by the native ViT: %s (%s); export it "
             "to TorchScript and pass the .pt file as MODEL",
             architecture.c_str(), why.c_str(), kSupported);
    return std::nullopt;
  };
  if (const char* why = refusedFamily(base)) return refuse(why);
  const auto number = [&](const std::string& digits, const char* what, int minimum,
                          int maximum) -> std::optional<int> {
    const auto v = nameNumber(digits, minimum, maximum);
    if (!v)
      CPLError(CE_Failure, CPLE_AppDefined,
               "architecture '%s': %s %s in the name is out of range (%d to %d)",
               architecture.c_str(), what, digits.c_str(), minimum, maximum);
    return v;
  };

  static const std::regex vit(R"(^(vit|deit|deit3)_([a-z0-9]+)_patch(\d+)(_.*)?$)");
  static const std::regex flexi(R"(^flexivit_(small|base|large)$)");
  static const std::regex eva(R"(^eva_large_patch14_(196|336)$)");
  std::smatch m;
  ViTConfig c;
  c.architecture = base;
  std::string family, suffix;
  const Size* size = nullptr;
  if (std::regex_match(base, m, vit)) {
    family = m[1];
    suffix = m[4];
    const auto patch = number(m[3], "patch size", 1, 1024);
    if (!patch) return std::nullopt;
    c.patch_size = *patch;
    if (family == "vit")
      size = findSize(std::begin(kVitSizes), std::end(kVitSizes), m[2]);
    else if (family == "deit")
      size = findSize(std::begin(kDeitSizes), std::end(kDeitSizes), m[2]);
    else
      size = findSize(std::begin(kDeit3Sizes), std::end(kDeit3Sizes), m[2]);
  } else if (std::regex_match(base, m, flexi)) {
    family = "flexivit";
    size = findSize(std::begin(kFlexiSizes), std::end(kFlexiSizes), m[1]);
    c.no_embed_class = true;
    c.img_size = 240;
  } else if (std::regex_match(base, m, eva)) {
    family = "eva";
    size = &kVitSizes[6];  // large
    c.patch_size = 14;
    c.img_size = std::stoi(m[1]);
    c.final_norm = false;  // global_pool='avg': the LayerNorm is fc_norm, after pooling
  }
  if (!size) return refuse("unknown family or size");

  c.embed_dim = size->embed_dim;
  c.depth = size->depth;
  c.num_heads = size->num_heads;
  c.mlp_hidden = 4 * c.embed_dim;
  const bool dinov2 = suffix.find("dinov2") != std::string::npos;
  static const std::regex reg_re(R"(^_reg(\d+)(_|$))");
  std::smatch rm;
  if (std::regex_search(suffix, rm, reg_re)) {
    const auto reg = number(rm[1], "register count", 0, 1024);
    if (!reg) return std::nullopt;
    c.reg_tokens = *reg;
    c.no_embed_class = true;  // timm's register models add pos_embed before the prefix
  }
  if (dinov2) {
    c.layer_scale = true;
    c.img_size = 518;
  }
  if (family == "deit3") {
    c.no_embed_class = true;
    c.layer_scale = true;
  }
  if (base == "vit_intern300m_patch14_448") c.final_norm = false;
  // Width exceptions in timm's registrations.
  if (base == "vit_base_patch16_gap_224") c.num_heads = 16;
  if (base == "vit_base_patch32_plus_256" || base == "vit_base_patch16_plus_240") {
    c.embed_dim = 896;
    c.num_heads = 14;
    c.mlp_hidden = 4 * 896;
  }
  if (suffix.find("siglip") != std::string::npos) {
    if (kSiglipTanh.count(base))
      c.gelu_tanh = true;
    else if (!kSiglipErf.count(base))
      return refuse(
          "a SigLIP variant whose MLP activation (erf or tanh GELU, which timm sets per "
          "architecture) is not known here");
    c.class_token = false;
  }
  static const std::regex size_re(R"(_(\d{3,4})(_|$))");
  std::smatch sm;
  if (std::regex_search(suffix, sm, size_re)) c.img_size = std::stoi(sm[1]);
  c.input_height = c.input_width = c.img_size;
  if (family == "vit" && !dinov2) {
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
      CPLError(CE_Failure, CPLE_OpenFailed, "%s: cannot parse as JSON%s", configPath.c_str(),
               readsAsNonUtf8(configPath) ? " (it is not UTF-8 text; save it as UTF-8)" : "");
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
  if (args.IsValid() && args.GetObj("act_layer").IsValid())
    c.gelu_tanh = args.GetString("act_layer") == "gelu_tanh";
  const int archEmbedDim = c.embed_dim;

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
  // Every size the structure is read from must be usable: a zero patch size
  // would divide by zero later, a huge one is no ViT.
  if (proj->size(0) < 1 || proj->size(1) < 1 || proj->size(2) < 1 || proj->size(2) > 1024 ||
      fc1->dim() != 2 || fc1->size(0) < 1) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: patch_embed.proj.weight %s or blocks.0.mlp.fc1.weight %s has an unusable "
             "shape (expected [embed_dim >= 1, channels >= 1, patch, patch] with patch 1..1024, "
             "and [hidden >= 1, embed_dim])",
             weightsPath.c_str(), shapeText(*proj).c_str(), shapeText(*fc1).c_str());
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

  // Final norm: timm's average-pool models hold their LayerNorm as fc_norm (applied
  // after pooling, outside forward_features) and `norm` is an identity.
  if (sd.count("norm.weight"))
    c.final_norm = true;
  else if (sd.count("fc_norm.weight"))
    c.final_norm = false;
  else if (args.IsValid() && args.GetObj("final_norm").IsValid())
    c.final_norm = args.GetBool("final_norm");

  bool headsGiven = false;
  if (args.IsValid()) {
    if (args.GetObj("num_heads").IsValid()) {
      c.num_heads = args.GetInteger("num_heads");
      headsGiven = true;
    }
    if (!modelArgsMatch(
            args, {{"depth", c.depth}, {"embed_dim", c.embed_dim}, {"patch_size", c.patch_size}},
            configPath, weightsPath))
      return std::nullopt;
  }
  if (architecture.empty()) {
    c.num_heads = headsForWidth(c.embed_dim);
    if (c.num_heads == 0) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: no config.json beside it and embed dim %d is none of timm's ViT sizes, so "
               "the number of attention heads is unknown: add a config.json with "
               "\"architecture\" and \"model_args\": {\"num_heads\": N}",
               weightsPath.c_str(), c.embed_dim);
      return std::nullopt;
    }
    CPLError(CE_Warning, CPLE_AppDefined,
             "%s: no config.json: assuming %d attention heads (timm's ViT of width %d); add a "
             "config.json if that is wrong",
             weightsPath.c_str(), c.num_heads, c.embed_dim);
  } else if (!headsGiven && c.embed_dim != archEmbedDim) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: the weights have embed dim %d but %s is defined with %d, and config.json has no "
             "model_args.num_heads: the number of attention heads is unknown",
             weightsPath.c_str(), c.embed_dim, c.architecture.c_str(), archEmbedDim);
    return std::nullopt;
  }
  if (c.num_heads <= 0 || c.embed_dim % c.num_heads != 0) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: embed_dim %d is not divisible by num_heads %d",
             weightsPath.c_str(), c.embed_dim, c.num_heads);
    return std::nullopt;
  }

  // Input size and normalisation from pretrained_cfg.
  c.input_height = c.input_width = c.img_size;
  readPretrainedCfg(root, &c.input_height, &c.input_width, &c.mean, &c.std);
  return c;
}

bool modelArgsMatch(const CPLJSONObject& args,
                    std::initializer_list<std::pair<const char*, int>> fromWeights,
                    const std::string& configPath, const std::string& weightsPath) {
  for (const auto& [key, actual] : fromWeights) {
    const CPLJSONObject v = args.GetObj(key);
    if (v.IsValid() && v.ToInteger() != actual) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: model_args.%s=%d but the weights in %s have %d",
               configPath.c_str(), key, v.ToInteger(), weightsPath.c_str(), actual);
      return false;
    }
  }
  return true;
}

void readPretrainedCfg(const CPLJSONObject& root, int* height, int* width, std::vector<float>* mean,
                       std::vector<float>* std) {
  const CPLJSONObject cfg = root.GetObj("pretrained_cfg");
  if (!cfg.IsValid()) return;
  const CPLJSONArray size = cfg.GetArray("input_size");
  if (size.IsValid() && size.Size() == 3) {
    *height = size[1].ToInteger();
    *width = size[2].ToInteger();
  }
  const CPLJSONArray m = cfg.GetArray("mean");
  const CPLJSONArray s = cfg.GetArray("std");
  if (m.IsValid() && s.IsValid() && m.Size() > 0 && m.Size() == s.Size()) {
    *mean = floatList(m);
    *std = floatList(s);
  }
}

}  // namespace vitfeat
