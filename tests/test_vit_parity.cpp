// Parity of the native ViT against timm's forward_features, on the fixtures in
// ../shared/fixtures/timm (produced with timm 1.0.28, float32, CPU).
#include <cpl_error.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "models/channel_adapt.h"
#include "models/encoder_factory.h"
#include "models/hub.h"
#include "models/state_dict.h"
#include "models/vision_transformer.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/npy.h"

using namespace vitfeat;
using vitfeat::test::loadNpy;
using vitfeat::test::timmFixture;

namespace {

constexpr double kTolerance = 1e-4;  // the fixtures README's float32 bound

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

void report(const std::string& what, double diff) {
  std::cout << "parity " << what << ": max |diff| = " << diff << "\n";
}

// The _dyn224 fixture's model.safetensors stands for a link to its base's file;
// where the link arrived as a small text file holding the target path, a temp
// snapshot folder with a real symlink takes its place.
std::string modelDir(const std::string& name, vitfeat::test::TempDir& tmp) {
  namespace fs = std::filesystem;
  const fs::path dir = timmFixture(name);
  const fs::path weights = dir / "model.safetensors";
  if (fs::file_size(weights) > 1024) return dir.string();
  std::ifstream in(weights);
  std::string target;
  std::getline(in, target);
  const fs::path resolved = fs::weakly_canonical(dir / target);
  REQUIRE(fs::exists(resolved));
  fs::copy_file(dir / "config.json", fs::path(tmp.path()) / "config.json");
  fs::create_symlink(resolved, fs::path(tmp.path()) / "model.safetensors");
  return tmp.path();
}

std::unique_ptr<Encoder> openCpu(const std::string& spec, const std::string& dtype = "float32",
                                 int in_chans = 0) {
  EncoderOptions o;
  o.device = "cpu";
  o.dtype = dtype;
  o.num_threads = 2;
  o.in_chans = in_chans;
  auto enc = openEncoder(spec, o);
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  return enc;
}

}  // namespace

TEST_CASE("patch grid matches timm on every fixture", "[shared][parity]") {
  const auto name =
      GENERATE(as<std::string>{}, "vit_tiny_patch16_224", "vit_small_patch8_224_depth2",
               "vit_small_patch14_dinov2_depth2", "vit_small_patch14_dinov2_depth2_dyn224");
  const std::string dir = timmFixture(name);
  vitfeat::test::TempDir tmp;
  const auto enc = openCpu(modelDir(name, tmp));
  const torch::Tensor input = loadNpy(dir + "/input.npy");
  const torch::Tensor expected = loadNpy(dir + "/patch_grid.npy");
  const torch::Tensor got = enc->forward(input);
  const double diff = maxAbsDiff(got, expected);
  report(std::string(name) + " patch_grid", diff);
  CHECK(diff < kTolerance);
  CHECK(enc->info().embed_dim == expected.size(3));
  CHECK(enc->info().patch_size * expected.size(1) == input.size(2));
}

TEST_CASE("forward_features tokens (prefix included) match timm", "[shared][parity]") {
  const auto name =
      GENERATE(as<std::string>{}, "vit_tiny_patch16_224", "vit_small_patch14_dinov2_depth2_dyn224");
  const std::string dir = timmFixture(name);
  vitfeat::test::TempDir tmp;
  const std::string weights = modelDir(name, tmp) + "/model.safetensors";
  const auto sd = readStateDict(weights);
  REQUIRE(sd);
  const auto config = vitConfigFromFiles(dir + "/config.json", *sd, weights);
  REQUIRE(config);
  VisionTransformer model(*config);
  REQUIRE(loadWeights(model, *sd, weights));
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor got = model->forwardFeatures(loadNpy(dir + "/input.npy"));
  const double diff = maxAbsDiff(got, loadNpy(dir + "/forward_features.npy"));
  report(std::string(name) + " forward_features", diff);
  CHECK(diff < kTolerance);
}

TEST_CASE("structure is read from config.json and the weights", "[shared]") {
  vitfeat::test::TempDir tmp;
  const auto enc = openCpu(modelDir("vit_small_patch14_dinov2_depth2_dyn224", tmp));
  const EncoderInfo& info = enc->info();
  CHECK(info.name == "vit_small_patch14_dinov2");
  CHECK(info.patch_size == 14);
  CHECK(info.embed_dim == 384);
  CHECK(info.num_prefix_tokens == 1);
  CHECK(info.input_height == 518);  // as the checkpoint says; the driver chooses the tile size
  CHECK(info.dynamic_input);
  CHECK(info.mean == std::vector<float>{0.485f, 0.456f, 0.406f});
}

TEST_CASE("channel adaptation matches timm's adapt_input_conv", "[shared][adapt]") {
  const std::string dir = timmFixture("vit_tiny_patch16_224_adapt");
  const auto sd = readStateDict(timmFixture("vit_tiny_patch16_224") + "/model.safetensors");
  REQUIRE(sd);
  const torch::Tensor w = sd->at("patch_embed.proj.weight");
  for (int n : {1, 2, 3, 4, 11}) {
    const auto adapted = adaptInputConv(n, w);
    REQUIRE(adapted);
    const torch::Tensor expected = loadNpy(dir + "/proj_weight_in" + std::to_string(n) + ".npy");
    const double diff = maxAbsDiff(*adapted, expected);
    report("adapt_input_conv in_chans=" + std::to_string(n), diff);
    CHECK(diff <= 1e-6);
  }
}

TEST_CASE("adapted multispectral forwards match timm", "[shared][adapt][parity]") {
  const std::string dir = timmFixture("vit_tiny_patch16_224_adapt");
  const int n = GENERATE(1, 4, 11);
  const auto enc = openCpu(timmFixture("vit_tiny_patch16_224"), "float32", n);
  CHECK(enc->info().in_chans == n);
  const torch::Tensor got = enc->forward(loadNpy(dir + "/input_in" + std::to_string(n) + ".npy"));
  const double diff = maxAbsDiff(got, loadNpy(dir + "/patch_grid_in" + std::to_string(n) + ".npy"));
  report("adapted in_chans=" + std::to_string(n), diff);
  CHECK(diff < kTolerance);
}

TEST_CASE("bfloat16 on the CPU stays close to timm's float32", "[shared][bf16]") {
  const std::string dir = timmFixture("vit_small_patch8_224_depth2");
  const auto enc = openCpu(dir, "bfloat16");
  CHECK(enc->info().dtype == "bfloat16");
  const torch::Tensor got = enc->forward(loadNpy(dir + "/input.npy"));
  const torch::Tensor expected = loadNpy(dir + "/patch_grid.npy");
  const torch::Tensor cosine = torch::nn::functional::cosine_similarity(
      got.flatten(0, 2), expected.flatten(0, 2),
      torch::nn::functional::CosineSimilarityFuncOptions().dim(1));
  const double worst = cosine.min().item<double>();
  std::cout << "bf16 vit_small_patch8_224_depth2: min per-token cosine = " << worst << "\n";
  CHECK(worst >= 0.99);
}

TEST_CASE("wrong input shapes are rejected with a message", "[shared]") {
  const auto enc = openCpu(timmFixture("vit_tiny_patch16_224"));
  CHECK_THROWS_WITH(enc->forward(torch::zeros({1, 4, 224, 224})), Catch::Contains("[B, 3, H, W]"));
  CHECK_THROWS_WITH(enc->forward(torch::zeros({1, 3, 100, 224})),
                    Catch::Contains("multiples of 16"));
}

TEST_CASE("float16 is refused on the CPU", "[shared]") {
  EncoderOptions o;
  o.device = "cpu";
  o.dtype = "float16";
  CPLPushErrorHandler(CPLQuietErrorHandler);
  const auto enc = openEncoder(timmFixture("vit_tiny_patch16_224"), o);
  CPLPopErrorHandler();
  CHECK_FALSE(enc);
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("CUDA only"));
}
