// More timm families against ../shared/fixtures/zoo (timm 1.0.28, float32, CPU):
// SAM's image encoder, SigLIP with tanh GELU, DeiT-3, registers + average pool;
// and the families that are refused by name because the native code would
// compute them wrongly.
#include <cpl_error.h>
#include <cpl_json.h>
#include <torch/torch.h>

#include <iostream>

#include "models/encoder_factory.h"
#include "models/model_folder.h"
#include "models/sam_vit.h"
#include "models/state_dict.h"
#include "models/vision_transformer.h"
#include "models/vit_config.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/npy.h"

using namespace vitfeat;
using vitfeat::test::ExpectErrors;
using vitfeat::test::loadNpy;
using vitfeat::test::TempDir;

namespace {

constexpr double kTolerance = 1e-4;  // the fixtures README's float32 bound

std::string zooFixture(const std::string& name) {
  return vitfeat::test::sharedDir() + "/fixtures/zoo/" + name;
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

EncoderOptions cpuOptions() {
  EncoderOptions o;
  o.device = "cpu";
  o.num_threads = 2;
  return o;
}

std::unique_ptr<Encoder> openCpu(const std::string& spec) {
  auto enc = openEncoder(spec, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  return enc;
}

std::string writeConfig(const TempDir& tmp, const std::string& json) {
  const std::string path = tmp.file("config.json");
  CPLJSONDocument doc;
  REQUIRE(doc.LoadMemory(json));
  REQUIRE(doc.Save(path));
  return path;
}

// Random weights shaped like a plain ViT of this width (depth 1).
StateDict plainWeights(int embed_dim, int patch, int grid, bool class_token) {
  ViTConfig c;
  c.embed_dim = embed_dim;
  c.depth = 1;
  c.num_heads = 1;
  c.mlp_hidden = 4 * embed_dim;
  c.patch_size = patch;
  c.img_size = grid * patch;
  c.class_token = class_token;
  return randomViTWeights(c, 3);
}

}  // namespace

TEST_CASE("zoo: patch grid matches timm on every fixture", "[shared][zoo][parity]") {
  const auto name =
      GENERATE(as<std::string>{}, "samvit_base_patch16_depth2_dim192_img256",
               "samvit_base_patch16_depth2_dim192_img1024_global1_in256",
               "vit_base_patch32_siglip_256_depth2_dim192", "deit3_small_patch16_224_depth2_dim192",
               "vit_medium_patch16_reg4_gap_256_depth2_dim192");
  const std::string dir = zooFixture(name);
  const auto enc = openCpu(dir);
  const torch::Tensor input = loadNpy(dir + "/input.npy");
  const torch::Tensor expected = loadNpy(dir + "/patch_grid.npy");
  const torch::Tensor got = enc->forward(input);
  const double diff = maxAbsDiff(got, expected);
  std::cout << "parity zoo " << name << " patch_grid: max |diff| = " << diff << "\n";
  CHECK(diff < kTolerance);
  CHECK(enc->info().embed_dim == expected.size(3));
  CHECK(enc->info().patch_size * expected.size(1) == input.size(2));
}

TEST_CASE("zoo: structure read for each family", "[shared][zoo]") {
  SECTION("SAM at its native 1024, fed 256") {
    const auto enc = openCpu(zooFixture("samvit_base_patch16_depth2_dim192_img1024_global1_in256"));
    CHECK(enc->info().name == "samvit_base_patch16");
    CHECK(enc->info().embed_dim == 256);  // the neck's channels
    CHECK(enc->info().num_prefix_tokens == 0);
    CHECK(enc->info().input_height == 1024);
    CHECK(enc->info().dynamic_input);
  }
  SECTION("SigLIP B/32 @256 uses the tanh GELU") {
    const std::string dir = zooFixture("vit_base_patch32_siglip_256_depth2_dim192");
    const auto sd = readStateDict(dir + "/model.safetensors");
    REQUIRE(sd);
    const auto c = vitConfigFromFiles(dir + "/config.json", *sd, dir + "/model.safetensors");
    REQUIRE(c);
    CHECK(c->gelu_tanh);
    CHECK_FALSE(c->class_token);
    CHECK(c->final_norm);
    // With the erf GELU instead, the fixture is missed by about 1e-2.
    ViTConfig erf = *c;
    erf.gelu_tanh = false;
    VisionTransformer model(erf);
    REQUIRE(loadWeights(model, *sd, dir + "/model.safetensors"));
    model->eval();
    torch::NoGradGuard no_grad;
    const double diff = maxAbsDiff(model->forwardPatchGrid(loadNpy(dir + "/input.npy")),
                                   loadNpy(dir + "/patch_grid.npy"));
    std::cout << "zoo siglip with erf GELU instead: max |diff| = " << diff << "\n";
    CHECK(diff > 1e-3);
  }
  SECTION("DeiT-3: no_embed_class and LayerScale") {
    const std::string dir = zooFixture("deit3_small_patch16_224_depth2_dim192");
    const auto sd = readStateDict(dir + "/model.safetensors");
    REQUIRE(sd);
    const auto c = vitConfigFromFiles(dir + "/config.json", *sd, dir + "/model.safetensors");
    REQUIRE(c);
    CHECK(c->no_embed_class);
    CHECK(c->layer_scale);
    CHECK(c->numPrefixTokens() == 1);
  }
  SECTION("registers + average pool: no final norm, 4 prefix tokens") {
    const auto enc = openCpu(zooFixture("vit_medium_patch16_reg4_gap_256_depth2_dim192"));
    CHECK(enc->info().num_prefix_tokens == 4);
    const std::string dir = zooFixture("vit_medium_patch16_reg4_gap_256_depth2_dim192");
    const auto sd = readStateDict(dir + "/model.safetensors");
    REQUIRE(sd);
    const auto c = vitConfigFromFiles(dir + "/config.json", *sd, dir + "/model.safetensors");
    REQUIRE(c);
    CHECK_FALSE(c->final_norm);
  }
}

TEST_CASE("zoo: SAM forward_features is the NCHW neck output", "[shared][zoo][parity]") {
  const std::string dir = zooFixture("samvit_base_patch16_depth2_dim192_img256");
  const std::string weights = dir + "/model.safetensors";
  const auto sd = readStateDict(weights);
  REQUIRE(sd);
  const auto c = samConfigFromFiles(dir + "/config.json", *sd, weights);
  REQUIRE(c);
  CHECK(c->global_attn_indexes == std::vector<int>{2, 5, 8, 11});
  CHECK_FALSE(c->isGlobal(0));
  SamVisionTransformer model(*c);
  REQUIRE(loadSamWeights(model, *sd, weights));
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor got = model->forwardFeatures(loadNpy(dir + "/input.npy"));
  const double diff = maxAbsDiff(got, loadNpy(dir + "/forward_features.npy"));
  std::cout << "parity zoo SAM img256 forward_features: max |diff| = " << diff << "\n";
  CHECK(diff < kTolerance);
}

// ---- Architecture names: exact or refused ------------------------------------------

TEST_CASE("zoo: families computed differently are refused by name", "[zoo]") {
  const auto name = GENERATE(
      as<std::string>{}, "vit_base_patch16_rpn_224", "vit_base_patch16_clip_224.openai",
      "vit_base_patch32_clip_quickgelu_224", "vit_small_patch16_18x2_224",
      "vit_base_patch16_xp_224", "vit_giant_patch14_dinov2.lvd142m",
      "vit_giant_patch14_reg4_dinov2", "vit_dwee_patch16_reg1_gap_256",
      "vit_pwee_patch16_reg1_gap_256", "vit_base_r50_s16_384", "deit_base_distilled_patch16_224",
      "vit_relpos_base_patch16_224", "vit_base_patch16_siglip_999", "aimv2_large_patch14_224",
      "beit3_base_patch16_224", "vit_unknownsize_patch16_224", "eva02_base_patch14_224");
  ExpectErrors quiet;
  CHECK_FALSE(vitConfigFromArchitecture(name));
  CHECK(CPLGetLastErrorType() == CE_Failure);
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains(name));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("TorchScript"));
}

TEST_CASE("zoo: refusal messages say why", "[zoo]") {
  ExpectErrors quiet;
  CHECK_FALSE(vitConfigFromArchitecture("vit_base_patch16_rpn_224"));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("post-norm"));
  CHECK_FALSE(vitConfigFromArchitecture("vit_large_patch14_clip_224"));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("CLIP"));
  CHECK_FALSE(vitConfigFromArchitecture("vit_giant_patch14_dinov2"));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("SwiGLU"));
}

TEST_CASE("zoo: timm's per-architecture defaults", "[zoo]") {
  const auto check = [](const std::string& name, int dim, int heads, bool tanh) {
    const auto c = vitConfigFromArchitecture(name);
    INFO(name << ": " << CPLGetLastErrorMsg());
    REQUIRE(c);
    CHECK(c->embed_dim == dim);
    CHECK(c->num_heads == heads);
    CHECK(c->gelu_tanh == tanh);
  };
  check("vit_huge_patch14_224.orig_in21k", 1280, 16, false);
  check("vit_base_patch16_gap_224", 768, 16, false);  // not 768 / 64
  check("vit_base_patch16_plus_240", 896, 14, false);
  check("vit_betwixt_patch16_reg4_gap_256", 640, 10, false);
  check("vit_so400m_patch14_siglip_384", 1152, 16, false);
  check("vit_so400m_patch16_siglip_256", 1152, 16, true);
  check("vit_base_patch32_siglip_256.v2_webli", 768, 12, true);
  check("vit_base_patch16_siglip_224.webli", 768, 12, false);
  check("deit3_small_patch16_224.fb_in1k", 384, 6, false);
  check("deit3_huge_patch14_224", 1280, 16, false);
  check("vit_medium_patch16_reg4_gap_256", 512, 8, false);
  check("flexivit_base", 768, 12, false);
  const auto deit3 = vitConfigFromArchitecture("deit3_base_patch16_384");
  REQUIRE(deit3);
  CHECK(deit3->no_embed_class);
  CHECK(deit3->layer_scale);
  CHECK(deit3->img_size == 384);
}

TEST_CASE("zoo: a config.json without model_args takes the architecture's defaults", "[zoo]") {
  TempDir tmp;
  SECTION("heads from timm's table, not embed_dim / 64") {
    const std::string config = writeConfig(tmp, R"({"architecture": "vit_base_patch16_gap_224"})");
    const auto c = vitConfigFromFiles(config, plainWeights(768, 16, 14, false), "w.safetensors");
    INFO(CPLGetLastErrorMsg());
    REQUIRE(c);
    CHECK(c->num_heads == 16);
    CHECK(c->embed_dim == 768);
    CHECK(c->depth == 1);  // the weights have the last word on depth
    CHECK_FALSE(c->class_token);
  }
  SECTION("ViT-H: 16 heads of 80") {
    const std::string config = writeConfig(tmp, R"({"architecture": "vit_huge_patch14_224"})");
    const auto c = vitConfigFromFiles(config, plainWeights(1280, 14, 4, true), "w.safetensors");
    REQUIRE(c);
    CHECK(c->num_heads == 16);
  }
  SECTION("weights narrower than the architecture: heads unknown, refused") {
    const std::string config = writeConfig(tmp, R"({"architecture": "vit_small_patch16_224"})");
    ExpectErrors quiet;
    CHECK_FALSE(vitConfigFromFiles(config, plainWeights(192, 16, 14, true), "w.safetensors"));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("num_heads"));
  }
  SECTION("model_args.act_layer gelu_tanh is honoured, quick_gelu refused") {
    std::string config = writeConfig(
        tmp,
        R"({"architecture": "vit_tiny_patch16_224", "model_args": {"act_layer": "gelu_tanh"}})");
    const auto c = vitConfigFromFiles(config, plainWeights(192, 16, 14, true), "w.safetensors");
    REQUIRE(c);
    CHECK(c->gelu_tanh);
    config = writeConfig(
        tmp,
        R"({"architecture": "vit_tiny_patch16_224", "model_args": {"act_layer": "quick_gelu"}})");
    ExpectErrors quiet;
    CHECK_FALSE(vitConfigFromFiles(config, plainWeights(192, 16, 14, true), "w.safetensors"));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("act_layer"));
  }
}

TEST_CASE("zoo: refused families fail at open, naming the family", "[zoo]") {
  TempDir tmp;
  // Plain pre-norm weights under a residual post-norm name: the keys would match.
  ViTConfig c = vitConfigFromArchitecture("vit_tiny_patch16_224").value();
  c.depth = 1;
  REQUIRE(writeModelFolder(tmp.file("rpn"), c, randomViTWeights(c, 5)));
  CPLJSONDocument doc;
  REQUIRE(doc.Load(tmp.file("rpn/config.json")));
  doc.GetRoot().Set("architecture", "vit_base_patch16_rpn_224");
  REQUIRE(doc.Save(tmp.file("rpn/config.json")));
  ExpectErrors quiet;
  CHECK_FALSE(openEncoder(tmp.file("rpn"), cpuOptions()));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("vit_base_patch16_rpn_224"));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("post-norm"));
}

TEST_CASE("zoo: weights without config.json", "[zoo]") {
  TempDir tmp;
  SECTION("a width of timm's table: its heads, with a warning") {
    const std::string weights = tmp.file("w.safetensors");
    ExpectErrors quiet;
    const auto c = vitConfigFromFiles("", plainWeights(384, 16, 4, true), weights);
    REQUIRE(c);
    CHECK(c->num_heads == 6);
    CHECK(CPLGetLastErrorType() == CE_Warning);
  }
  SECTION("an unknown width: refused") {
    ExpectErrors quiet;
    CHECK_FALSE(vitConfigFromFiles("", plainWeights(96, 16, 4, true), "w.safetensors"));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("num_heads"));
  }
}
