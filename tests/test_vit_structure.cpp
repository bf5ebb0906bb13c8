// Structure and loading of the native ViT beyond the timm parity fixtures:
// architecture names, register tokens and both position-embedding orders
// (against a forward pass written out here with plain LibTorch ops), position
// embedding resampling, checkpoint errors, .pth checkpoints and the runtime
// settings. Everything runs on tiny random models; no ../shared needed.

#include <ATen/Parallel.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_json.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "models/encoder_factory.h"
#include "models/model_folder.h"
#include "models/pos_embed.h"
#include "models/runtime.h"
#include "models/safetensors_writer.h"
#include "models/vision_transformer.h"
#include "models/vit_config.h"
#include "tests/support/catch_torch.h"
#include "tests/support/checkpoints.h"
#include "tests/support/fixtures.h"

using namespace vitfeat;
using vitfeat::test::TempDir;

using vitfeat::test::ExpectErrors;

namespace {

const std::vector<float> kImageNetMean{0.485f, 0.456f, 0.406f};
const std::vector<float> kHalf{0.5f, 0.5f, 0.5f};

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

EncoderOptions cpuOptions(int in_chans = 0) {
  EncoderOptions o;
  o.device = "cpu";
  o.num_threads = 2;
  o.in_chans = in_chans;
  return o;
}

// A tiny ViT: 32 features, 2 heads, 8 x 8 patches, trained for 32 x 32 (4 x 4 grid).
ViTConfig tinyConfig(const std::string& architecture, int depth) {
  ViTConfig c;
  c.architecture = architecture;
  c.embed_dim = 32;
  c.depth = depth;
  c.num_heads = 2;
  c.mlp_hidden = 64;
  c.patch_size = 8;
  c.img_size = c.input_height = c.input_width = 32;
  return c;
}

// Class token + 4 registers, position embedding on the patches only (DINOv2-reg style).
ViTConfig regConfig() {
  ViTConfig c = tinyConfig("vit_tiny_patch8_reg4", 1);
  c.reg_tokens = 4;
  c.no_embed_class = true;
  return c;
}

// Class token included in the position embedding, with LayerScale (DINOv2 style).
ViTConfig layerScaleConfig() {
  ViTConfig c = tinyConfig("vit_tiny_patch8", 2);
  c.layer_scale = true;
  return c;
}

// randomViTWeights keeps the prefix tokens, position embedding and LayerScale
// near their initial values (zeros, ones); larger values make a wrong token
// order or a skipped LayerScale show clearly in the output.
StateDict weights(const ViTConfig& c, uint64_t seed) {
  StateDict sd = randomViTWeights(c, seed);
  torch::manual_seed(seed + 1000);
  for (auto& kv : sd) {
    const std::string& k = kv.first;
    if (k == "pos_embed" || k == "cls_token" || k == "reg_token")
      kv.second = torch::randn_like(kv.second) * 0.5;
    else if (k.find(".ls1.") != std::string::npos || k.find(".ls2.") != std::string::npos)
      kv.second = torch::rand_like(kv.second) * 1.5 + 0.1;
  }
  return sd;
}

std::string writeFolder(const TempDir& tmp, const std::string& name, const ViTConfig& c,
                        const StateDict& sd) {
  const std::string dir = tmp.file(name);
  REQUIRE(writeModelFolder(dir, c, sd));
  return dir;
}

VisionTransformer buildModel(const ViTConfig& c, const StateDict& sd) {
  VisionTransformer model(c);
  REQUIRE(loadWeights(model, sd, "in-memory"));
  model->eval();
  return model;
}

// ---- timm's forward_features written out with plain tensor ops --------------

torch::Tensor layerNormRef(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const torch::Tensor mean = x.mean(-1, /*keepdim=*/true);
  const torch::Tensor var = (x - mean).pow(2).mean(-1, /*keepdim=*/true);  // biased, as LayerNorm
  return (x - mean) / (var + 1e-6).sqrt() * w + b;
}

torch::Tensor linearRef(const torch::Tensor& x, const StateDict& sd, const std::string& name) {
  return x.matmul(sd.at(name + ".weight").t()) + sd.at(name + ".bias");
}

// Exact (erf) GELU, nn.GELU's default.
torch::Tensor geluRef(const torch::Tensor& x) {
  return 0.5 * x * (1 + torch::erf(x / std::sqrt(2.0)));
}

// Multi-head self-attention one head at a time: the qkv output columns are
// [q heads..., k heads..., v heads...], each head head_dim wide.
torch::Tensor attentionRef(const torch::Tensor& x, const StateDict& sd, const std::string& name,
                           int64_t heads) {
  const int64_t dim = x.size(2), hd = dim / heads;
  const torch::Tensor qkv = linearRef(x, sd, name + ".qkv");
  std::vector<torch::Tensor> out;
  for (int64_t h = 0; h < heads; ++h) {
    const torch::Tensor q = qkv.narrow(2, h * hd, hd);
    const torch::Tensor k = qkv.narrow(2, dim + h * hd, hd);
    const torch::Tensor v = qkv.narrow(2, 2 * dim + h * hd, hd);
    const torch::Tensor scores = q.matmul(k.transpose(1, 2)) / std::sqrt(static_cast<double>(hd));
    out.push_back(torch::softmax(scores, -1).matmul(v));
  }
  return linearRef(torch::cat(out, 2), sd, name + ".proj");
}

// tokens [B, prefix + h*w, D] for input x, with pos the (already resized)
// position embedding: [1, h*w, D] when noEmbedClass, else [1, prefix + h*w, D].
torch::Tensor forwardRef(const StateDict& sd, const torch::Tensor& x, const torch::Tensor& pos,
                         bool noEmbedClass, int64_t heads) {
  const torch::Tensor proj = sd.at("patch_embed.proj.weight");
  torch::Tensor t = torch::conv2d(x, proj, sd.at("patch_embed.proj.bias"), proj.size(2));
  t = t.flatten(2).transpose(1, 2);
  const int64_t B = x.size(0);
  std::vector<torch::Tensor> parts;
  if (sd.count("cls_token")) parts.push_back(sd.at("cls_token").expand({B, -1, -1}));
  if (sd.count("reg_token")) parts.push_back(sd.at("reg_token").expand({B, -1, -1}));
  if (noEmbedClass) {
    parts.push_back(t + pos);
    t = torch::cat(parts, 1);
  } else {
    parts.push_back(t);
    t = torch::cat(parts, 1) + pos;
  }
  for (int i = 0; sd.count("blocks." + std::to_string(i) + ".norm1.weight"); ++i) {
    const std::string b = "blocks." + std::to_string(i);
    const bool ls = sd.count(b + ".ls1.gamma") > 0;
    torch::Tensor a =
        attentionRef(layerNormRef(t, sd.at(b + ".norm1.weight"), sd.at(b + ".norm1.bias")), sd,
                     b + ".attn", heads);
    if (ls) a = a * sd.at(b + ".ls1.gamma");
    t = t + a;
    torch::Tensor m = layerNormRef(t, sd.at(b + ".norm2.weight"), sd.at(b + ".norm2.bias"));
    m = linearRef(geluRef(linearRef(m, sd, b + ".mlp.fc1")), sd, b + ".mlp.fc2");
    if (ls) m = m * sd.at(b + ".ls2.gamma");
    t = t + m;
  }
  return layerNormRef(t, sd.at("norm.weight"), sd.at("norm.bias"));
}

// The grid part of pos_embed [1, prefix + g*g, D] resized to h x w as timm does.
torch::Tensor resizeGridRef(const torch::Tensor& pos, int64_t prefix, int64_t h, int64_t w,
                            bool antialias = true) {
  const int64_t dim = pos.size(2), n = pos.size(1) - prefix;
  const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n))));
  torch::Tensor grid = pos.slice(1, prefix).reshape({1, g, g, dim}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  grid = F::interpolate(grid, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{h, w})
                                  .mode(torch::kBicubic)
                                  .align_corners(false)
                                  .antialias(antialias));
  return grid.permute({0, 2, 3, 1}).reshape({1, h * w, dim});
}

// Replaces one part of a model folder written by writeModelFolder.
void rewriteWeights(const std::string& dir, const StateDict& sd) {
  REQUIRE(writeSafetensors(dir + "/model.safetensors", sd));
}

std::string openError(const std::string& spec, const EncoderOptions& o = cpuOptions()) {
  ExpectErrors quiet;
  const auto enc = openEncoder(spec, o);
  CHECK_FALSE(enc);
  CHECK(CPLGetLastErrorType() == CE_Failure);
  return CPLGetLastErrorMsg();
}

}  // namespace

// ---- Architecture names --------------------------------------------------------

TEST_CASE("vit structure: vit_tiny_patch16_224 from its name", "[vit_structure]") {
  const auto c = vitConfigFromArchitecture("vit_tiny_patch16_224");
  REQUIRE(c);
  CHECK(c->architecture == "vit_tiny_patch16_224");
  CHECK(c->embed_dim == 192);
  CHECK(c->depth == 12);
  CHECK(c->num_heads == 3);
  CHECK(c->mlp_hidden == 4 * 192);
  CHECK(c->patch_size == 16);
  CHECK(c->img_size == 224);
  CHECK(c->input_height == 224);
  CHECK(c->input_width == 224);
  CHECK(c->class_token);
  CHECK(c->reg_tokens == 0);
  CHECK_FALSE(c->no_embed_class);
  CHECK_FALSE(c->layer_scale);
  CHECK(c->mean == kHalf);  // timm's augreg ViTs normalise with 0.5 / 0.5
  CHECK(c->std == kHalf);
  CHECK(c->numPrefixTokens() == 1);
  CHECK(c->posEmbedLength() == 14 * 14 + 1);
}

TEST_CASE("vit structure: vit_small_patch14_dinov2 from its name", "[vit_structure]") {
  const auto c = vitConfigFromArchitecture("vit_small_patch14_dinov2");
  REQUIRE(c);
  CHECK(c->embed_dim == 384);
  CHECK(c->depth == 12);
  CHECK(c->num_heads == 6);
  CHECK(c->patch_size == 14);
  CHECK(c->layer_scale);
  CHECK(c->img_size == 518);
  CHECK(c->input_height == 518);
  CHECK(c->reg_tokens == 0);
  CHECK_FALSE(c->no_embed_class);
  CHECK(c->mean == kImageNetMean);
  CHECK(c->posEmbedLength() == 37 * 37 + 1);
}

TEST_CASE("vit structure: vit_base_patch14_reg4_dinov2 from its name", "[vit_structure]") {
  const auto c = vitConfigFromArchitecture("vit_base_patch14_reg4_dinov2");
  REQUIRE(c);
  CHECK(c->embed_dim == 768);
  CHECK(c->depth == 12);
  CHECK(c->num_heads == 12);
  CHECK(c->patch_size == 14);
  CHECK(c->reg_tokens == 4);
  CHECK(c->class_token);
  CHECK(c->numPrefixTokens() == 5);
  CHECK(c->no_embed_class);
  CHECK(c->layer_scale);
  CHECK(c->img_size == 518);
  CHECK(c->posEmbedLength() == 37 * 37);  // registers and class token get none
  CHECK(c->mean == kImageNetMean);
}

TEST_CASE("vit structure: vit_large_patch16_224 and deit_small_patch16_224", "[vit_structure]") {
  const auto large = vitConfigFromArchitecture("vit_large_patch16_224");
  REQUIRE(large);
  CHECK(large->embed_dim == 1024);
  CHECK(large->depth == 24);
  CHECK(large->num_heads == 16);
  CHECK(large->mlp_hidden == 4096);
  CHECK(large->patch_size == 16);
  CHECK(large->img_size == 224);
  CHECK(large->mean == kHalf);

  const auto deit = vitConfigFromArchitecture("deit_small_patch16_224");
  REQUIRE(deit);
  CHECK(deit->embed_dim == 384);
  CHECK(deit->depth == 12);
  CHECK(deit->num_heads == 6);
  CHECK(deit->patch_size == 16);
  CHECK(deit->img_size == 224);
  CHECK(deit->mean == kImageNetMean);  // DeiT keeps timm's ImageNet defaults
  CHECK_FALSE(deit->layer_scale);

  const auto at384 = vitConfigFromArchitecture("vit_small_patch16_384");
  REQUIRE(at384);
  CHECK(at384->img_size == 384);
  CHECK(at384->input_height == 384);
}

TEST_CASE("vit structure: a .tag suffix is ignored", "[vit_structure]") {
  const auto plain = vitConfigFromArchitecture("vit_small_patch14_dinov2");
  const auto tagged = vitConfigFromArchitecture("vit_small_patch14_dinov2.lvd142m");
  REQUIRE(plain);
  REQUIRE(tagged);
  CHECK(tagged->architecture == "vit_small_patch14_dinov2");
  CHECK(tagged->embed_dim == plain->embed_dim);
  CHECK(tagged->img_size == plain->img_size);
  CHECK(tagged->layer_scale == plain->layer_scale);
  CHECK(tagged->mean == plain->mean);

  const auto augreg = vitConfigFromArchitecture("vit_tiny_patch16_224.augreg_in21k_ft_in1k");
  REQUIRE(augreg);
  CHECK(augreg->architecture == "vit_tiny_patch16_224");
  CHECK(augreg->embed_dim == 192);
  CHECK(augreg->img_size == 224);
}

TEST_CASE("vit structure: unsupported architectures point to TorchScript", "[vit_structure]") {
  const auto name =
      GENERATE(as<std::string>{}, "resnet50", "eva02_base_patch14_224", "convnext_tiny.fb_in1k");
  ExpectErrors quiet;
  CHECK_FALSE(vitConfigFromArchitecture(name));
  CHECK(CPLGetLastErrorType() == CE_Failure);
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("TorchScript"));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains(name));
}

// ---- Token semantics against an independent forward pass ---------------------

TEST_CASE("vit structure: register tokens with no_embed_class", "[vit_structure]") {
  const ViTConfig c = regConfig();
  const StateDict sd = weights(c, 21);
  REQUIRE(sd.at("reg_token").sizes() == torch::IntArrayRef{1, 4, 32});
  REQUIRE(sd.at("pos_embed").sizes() == torch::IntArrayRef{1, 16, 32});  // patches only
  TempDir tmp;
  const std::string dir = writeFolder(tmp, "reg", c, sd);

  const auto enc = openEncoder(dir, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  CHECK(enc->info().num_prefix_tokens == 5);
  CHECK(enc->info().embed_dim == 32);
  CHECK(enc->info().patch_size == 8);

  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  const torch::Tensor ref = forwardRef(sd, x, sd.at("pos_embed"), /*noEmbedClass=*/true, 2);
  REQUIRE(ref.sizes() == torch::IntArrayRef{2, 5 + 16, 32});

  const torch::Tensor grid = enc->forward(x);
  REQUIRE(grid.sizes() == torch::IntArrayRef{2, 4, 4, 32});
  CHECK(maxAbsDiff(grid, ref.slice(1, 5).reshape({2, 4, 4, 32})) < 1e-5);

  VisionTransformer model = buildModel(c, sd);
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = model->forwardFeatures(x);
  CHECK(maxAbsDiff(tokens, ref) < 1e-5);

  // forwardPatchGrid drops exactly the 5 prefix tokens (class, then registers).
  CHECK(maxAbsDiff(model->forwardPatchGrid(x), ref.slice(1, 5).reshape({2, 4, 4, 32})) < 1e-5);
}

TEST_CASE("vit structure: class token inside pos_embed with LayerScale", "[vit_structure]") {
  const ViTConfig c = layerScaleConfig();
  const StateDict sd = weights(c, 22);
  REQUIRE(sd.count("blocks.1.ls2.gamma"));
  REQUIRE(sd.at("pos_embed").sizes() == torch::IntArrayRef{1, 1 + 16, 32});
  TempDir tmp;
  const std::string dir = writeFolder(tmp, "ls", c, sd);

  const auto enc = openEncoder(dir, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  CHECK(enc->info().num_prefix_tokens == 1);

  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  const torch::Tensor ref = forwardRef(sd, x, sd.at("pos_embed"), /*noEmbedClass=*/false, 2);
  VisionTransformer model = buildModel(c, sd);
  torch::NoGradGuard no_grad;
  CHECK(maxAbsDiff(model->forwardFeatures(x), ref) < 1e-5);
  CHECK(maxAbsDiff(enc->forward(x), ref.slice(1, 1).reshape({2, 4, 4, 32})) < 1e-5);

  // The weights make LayerScale and the class token's position embedding matter:
  // dropping either changes the output well beyond the tolerance.
  StateDict noLs = sd;
  for (auto& kv : noLs)
    if (kv.first.find(".ls") != std::string::npos) kv.second = torch::ones_like(kv.second);
  CHECK(maxAbsDiff(forwardRef(noLs, x, sd.at("pos_embed"), false, 2), ref) > 1e-2);
  StateDict noClsPos = sd;
  noClsPos["pos_embed"] = sd.at("pos_embed").clone();
  noClsPos["pos_embed"].slice(1, 0, 1).zero_();
  CHECK(maxAbsDiff(forwardRef(noClsPos, x, noClsPos.at("pos_embed"), false, 2), ref) > 1e-2);
}

// ---- Position embedding resampling -------------------------------------------

TEST_CASE("vit structure: position embedding resampled to other grids", "[vit_structure]") {
  TempDir tmp;
  for (const bool reg : {false, true}) {
    const ViTConfig c = reg ? regConfig() : layerScaleConfig();
    const int64_t prefix = c.numPrefixTokens();
    const int64_t posPrefix = c.no_embed_class ? 0 : prefix;
    const StateDict sd = weights(c, 31);
    const torch::Tensor pos = sd.at("pos_embed");
    INFO("reg=" << reg);

    // resamplePosEmbed itself: prefix rows untouched, grid bicubic + antialias.
    const torch::Tensor r66 = resamplePosEmbed(pos, 6, 6, posPrefix);
    REQUIRE(r66.sizes() == torch::IntArrayRef{1, posPrefix + 36, 32});
    if (posPrefix > 0) CHECK(torch::equal(r66.slice(1, 0, posPrefix), pos.slice(1, 0, posPrefix)));
    CHECK(maxAbsDiff(r66.slice(1, posPrefix), resizeGridRef(pos, posPrefix, 6, 6)) < 1e-6);
    // (antialias changes the bicubic kernel even when upsampling, so this tells them apart)
    CHECK(maxAbsDiff(r66.slice(1, posPrefix), resizeGridRef(pos, posPrefix, 6, 6, false)) > 1e-4);
    const torch::Tensor r22 = resamplePosEmbed(pos, 2, 2, posPrefix);  // downsampling
    CHECK(maxAbsDiff(r22.slice(1, posPrefix), resizeGridRef(pos, posPrefix, 2, 2)) < 1e-6);
    CHECK(torch::equal(resamplePosEmbed(pos, 4, 4, posPrefix), pos));

    // The model at 48 x 48 (6 x 6) and 32 x 48 (4 x 6) uses the resampled embedding.
    const std::string dir = writeFolder(tmp, reg ? "reg" : "ls", c, sd);
    const auto enc = openEncoder(dir, cpuOptions());
    INFO(CPLGetLastErrorMsg());
    REQUIRE(enc);
    CHECK(enc->info().dynamic_input);
    torch::manual_seed(7);
    for (const auto& hw : {std::pair<int64_t, int64_t>{6, 6}, std::pair<int64_t, int64_t>{4, 6}}) {
      const int64_t h = hw.first, w = hw.second;
      const torch::Tensor x = torch::randn({1, 3, 8 * h, 8 * w});
      torch::Tensor resized = resizeGridRef(pos, posPrefix, h, w);
      if (posPrefix > 0) resized = torch::cat({pos.slice(1, 0, posPrefix), resized}, 1);
      const torch::Tensor ref = forwardRef(sd, x, resized, c.no_embed_class, 2);
      const torch::Tensor got = enc->forward(x);
      REQUIRE(got.sizes() == torch::IntArrayRef{1, h, w, 32});
      CHECK(maxAbsDiff(got, ref.slice(1, prefix).reshape({1, h, w, 32})) < 1e-5);
    }
  }
}

// ---- Loading errors -------------------------------------------------------------

TEST_CASE("vit structure: doctored state dicts are refused with the key named", "[vit_structure]") {
  const ViTConfig c = tinyConfig("vit_tiny_patch8", 1);
  const StateDict sd = weights(c, 41);
  TempDir tmp;
  const std::string dir = writeFolder(tmp, "m", c, sd);
  const std::string file = dir + "/model.safetensors";

  SECTION("missing key") {
    StateDict bad = sd;
    REQUIRE(bad.erase("blocks.0.attn.proj.bias") == 1);
    rewriteWeights(dir, bad);
    const std::string msg = openError(dir);
    CHECK_THAT(msg, Catch::Contains(file));
    CHECK_THAT(msg, Catch::Contains("blocks.0.attn.proj.bias"));
  }
  SECTION("unexpected key") {
    StateDict bad = sd;
    bad["blocks.0.extra.weight"] = torch::ones({32});
    rewriteWeights(dir, bad);
    const std::string msg = openError(dir);
    CHECK_THAT(msg, Catch::Contains(file));
    CHECK_THAT(msg, Catch::Contains("blocks.0.extra.weight"));
  }
  SECTION("shape mismatch") {
    StateDict bad = sd;
    bad["norm.weight"] = torch::ones({31});
    rewriteWeights(dir, bad);
    const std::string msg = openError(dir);
    CHECK_THAT(msg, Catch::Contains(file));
    CHECK_THAT(msg, Catch::Contains("norm.weight"));
    CHECK_THAT(msg, Catch::Contains("[31]"));
    CHECK_THAT(msg, Catch::Contains("[32]"));
  }
  SECTION("a classifier head is ignored") {
    StateDict withHead = sd;
    withHead["head.weight"] = torch::randn({10, 32});
    withHead["head.bias"] = torch::randn({10});
    rewriteWeights(dir, withHead);
    const auto enc = openEncoder(dir, cpuOptions());
    INFO(CPLGetLastErrorMsg());
    REQUIRE(enc);
    torch::manual_seed(8);
    const torch::Tensor x = torch::randn({1, 3, 32, 32});
    const torch::Tensor ref = forwardRef(sd, x, sd.at("pos_embed"), false, 2);
    CHECK(maxAbsDiff(enc->forward(x), ref.slice(1, 1).reshape({1, 4, 4, 32})) < 1e-5);
  }
}

TEST_CASE("vit structure: config.json depth disagreeing with the weights", "[vit_structure]") {
  const ViTConfig c = tinyConfig("vit_tiny_patch8", 2);
  TempDir tmp;
  const std::string dir = writeFolder(tmp, "m", c, weights(c, 42));
  const std::string config = dir + "/config.json";
  CPLJSONDocument doc;
  REQUIRE(doc.Load(config));
  CPLJSONObject args = doc.GetRoot().GetObj("model_args");
  REQUIRE(args.IsValid());
  args.Set("depth", 7);
  REQUIRE(doc.Save(config));

  const std::string msg = openError(dir);
  CHECK_THAT(msg, Catch::Contains("depth"));
  CHECK_THAT(msg, Catch::Contains("7"));
  CHECK_THAT(msg, Catch::Contains("2"));
  CHECK_THAT(msg, Catch::Contains("config.json"));
  CHECK_THAT(msg, Catch::Contains("model.safetensors"));
}

TEST_CASE("vit structure: channel adaptation limits", "[vit_structure]") {
  TempDir tmp;
  SECTION("4-channel weights cannot feed 2 bands") {
    ViTConfig c = tinyConfig("vit_tiny_patch8", 1);
    c.in_chans = 4;
    const std::string dir = writeFolder(tmp, "c4", c, weights(c, 51));
    const std::string msg = openError(dir, cpuOptions(2));
    CHECK_THAT(msg, Catch::Contains("patch_embed.proj.weight"));
    CHECK_THAT(msg, Catch::Contains(dir + "/model.safetensors"));

    // Its own channel count still works.
    const auto enc = openEncoder(dir, cpuOptions(4));
    INFO(CPLGetLastErrorMsg());
    REQUIRE(enc);
    CHECK(enc->info().in_chans == 4);
  }
  SECTION("3-channel weights adapt to 2 and to 1 band") {
    const ViTConfig c = tinyConfig("vit_tiny_patch8", 1);
    const std::string dir = writeFolder(tmp, "c3", c, weights(c, 52));
    for (const int bands : {2, 1, 5}) {
      const auto enc = openEncoder(dir, cpuOptions(bands));
      INFO(bands << " bands: " << CPLGetLastErrorMsg());
      REQUIRE(enc);
      CHECK(enc->info().in_chans == bands);
      CHECK(enc->forward(torch::zeros({1, bands, 32, 32})).sizes() ==
            torch::IntArrayRef{1, 4, 4, 32});
    }
  }
}

// ---- .pth checkpoints --------------------------------------------------------------

TEST_CASE("vit structure: a .pth state dict gives the same output as safetensors",
          "[vit_structure]") {
  const ViTConfig c = regConfig();
  const StateDict sd = weights(c, 61);
  TempDir tmp;
  const std::string dir = writeFolder(tmp, "m", c, sd);

  const std::string pth = dir + "/model.pth";
  const std::vector<char> bytes = vitfeat::test::writePickledStateDict(pth, sd);
  REQUIRE(!bytes.empty());

  const auto fromPth = openEncoder(pth, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(fromPth);
  CHECK(fromPth->info().weights == pth);
  CHECK(fromPth->info().num_prefix_tokens == 5);
  CHECK(fromPth->info().name == "vit_tiny_patch8_reg4");  // config.json beside it was read
  const auto fromSafetensors = openEncoder(dir + "/model.safetensors", cpuOptions());
  REQUIRE(fromSafetensors);

  torch::manual_seed(9);
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  CHECK(torch::equal(fromPth->forward(x), fromSafetensors->forward(x)));
}

// ---- Device, dtype and threads -------------------------------------------------

TEST_CASE("vit structure: resolveDevice", "[vit_structure]") {
  const auto cpu = resolveDevice("cpu");
  REQUIRE(cpu);
  CHECK(cpu->is_cpu());
  const auto upper = resolveDevice("CPU");
  REQUIRE(upper);
  CHECK(upper->is_cpu());

  const auto autoDevice = resolveDevice("auto");
  REQUIRE(autoDevice);
  CHECK(autoDevice->is_cuda() == torch::cuda::is_available());

  if (!torch::cuda::is_available()) {
    ExpectErrors quiet;
    CHECK_FALSE(resolveDevice("cuda:0"));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("cuda:0"));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("CUDA"));
    CHECK_FALSE(resolveDevice("cuda"));
  }
  {
    ExpectErrors quiet;
    CHECK_FALSE(resolveDevice("tpu"));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("tpu"));
  }
  {
    ExpectErrors quiet;
    CHECK_FALSE(resolveDevice("cuda:x"));
    CHECK(CPLGetLastErrorType() == CE_Failure);
  }
}

TEST_CASE("vit structure: resolveDtype", "[vit_structure]") {
  const torch::Device cpu(torch::kCPU);
  CHECK(resolveDtype("float32", cpu) == torch::kFloat32);
  CHECK(resolveDtype("bfloat16", cpu) == torch::kBFloat16);
  {
    ExpectErrors quiet;
    CHECK_FALSE(resolveDtype("float16", cpu));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("CUDA"));
  }
  {
    ExpectErrors quiet;
    CHECK_FALSE(resolveDtype("int8", cpu));
    CHECK(CPLGetLastErrorType() == CE_Failure);
  }
  // And through openEncoder: float16 on the CPU is refused before any loading.
  const ViTConfig c = tinyConfig("vit_tiny_patch8", 1);
  TempDir tmp;
  const std::string dir = writeFolder(tmp, "m", c, weights(c, 71));
  EncoderOptions o = cpuOptions();
  o.dtype = "float16";
  CHECK_THAT(openError(dir, o), Catch::Contains("CUDA"));
}

TEST_CASE("vit structure: configureThreads", "[vit_structure]") {
  const int before = at::get_num_threads();
  const char* old = CPLGetConfigOption("GDAL_NUM_THREADS", nullptr);
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;

  CHECK(configureThreads(2) == 2);
  CHECK(at::get_num_threads() == 2);

  CPLSetConfigOption("GDAL_NUM_THREADS", "3");
  CHECK(configureThreads(0) == 3);
  CHECK(at::get_num_threads() == 3);

  CPLSetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CHECK(configureThreads(0) == cores);
  CHECK(at::get_num_threads() == cores);

  CPLSetConfigOption("GDAL_NUM_THREADS", saved ? saved->c_str() : nullptr);
  at::set_num_threads(before);
}

// ---- Loading without random initialisation; scales folded at load ----------------

TEST_CASE("vit: building a model draws no random numbers (its weights come from the checkpoint)") {
  const ViTConfig c = layerScaleConfig();
  torch::manual_seed(42);
  const torch::Tensor expected = torch::rand({8});
  torch::manual_seed(42);
  VisionTransformer model(c);  // LibTorch's own layers would draw their init here
  CHECK(torch::equal(torch::rand({8}), expected));
}

TEST_CASE("vit: folding LayerScale and the attention scale changes the output by rounding only") {
  const ViTConfig c = layerScaleConfig();
  const StateDict sd = weights(c, 77);
  VisionTransformer model(c);
  REQUIRE(loadWeights(model, sd, "memory"));
  model->eval();
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  const torch::Tensor plain = model->forwardFeatures(x);
  // The LayerScale gammas are far from 1 (weights() above): skipping one shows.
  const torch::Tensor ref = forwardRef(sd, x, sd.at("pos_embed"), /*noEmbedClass=*/false, 2);
  CHECK(maxAbsDiff(plain, ref) < 1e-5);

  model->foldScales();
  const torch::Tensor folded = model->forwardFeatures(x);
  CHECK(maxAbsDiff(folded, plain) < 1e-5);
  CHECK(maxAbsDiff(folded, plain) > 0);  // the weights did change
  model->foldScales();                   // a second fold changes nothing
  CHECK(torch::equal(model->forwardFeatures(x), folded));

  // Loading again restores the checkpoint's weights and the unfolded forward.
  REQUIRE(loadWeights(model, sd, "memory"));
  CHECK(torch::equal(model->forwardFeatures(x), plain));
}
