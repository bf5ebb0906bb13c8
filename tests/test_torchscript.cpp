// The TorchScript encoder: modules built here with torch::jit::Module::define
// (no Python needed), their sidecar JSON or EncoderOptions, and the tokens /
// map conventions, each checked against the same computation done directly
// with LibTorch ops in the test.

#include <cpl_error.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/encoder_factory.h"
#include "models/model_folder.h"
#include "models/safetensors_writer.h"
#include "models/torchscript_encoder.h"
#include "tests/support/catch_torch.h"
#include "tests/support/checkpoints.h"
#include "tests/support/fixtures.h"

using namespace vitfeat;
using vitfeat::test::TempDir;

using vitfeat::test::ExpectErrors;

namespace {

// Sizes of the modules below: 3 x 16 x 16 input cut into 8 x 8 patches (a 2 x 2
// grid), 32 features per token and 2 prefix tokens.
constexpr int kChans = 3;
constexpr int kPatch = 8;
constexpr int kInput = 16;
constexpr int kDim = 32;
constexpr int kPrefix = 2;

void writeText(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  REQUIRE(f.good());
}

std::string sidecar(int input, int patch, int prefix, const std::string& extra = "") {
  return "{\"input_size\": " + std::to_string(input) +
         ", \"patch_size\": " + std::to_string(patch) +
         ", \"num_prefix_tokens\": " + std::to_string(prefix) +
         (extra.empty() ? "" : ", " + extra) + "}";
}

EncoderOptions cpuOptions() {
  EncoderOptions o;
  o.device = "cpu";
  o.num_threads = 2;
  return o;
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

// The weights of the tokens module, kept so the test can redo its computation.
struct TokenWeights {
  torch::Tensor proj;    // [C*p*p, D], rows ordered (channel, row, column)
  torch::Tensor prefix;  // [1, kPrefix, D]
};

TokenWeights tokenWeights() {
  torch::manual_seed(7);
  return {torch::randn({kChans * kPatch * kPatch, kDim}) * 0.1, torch::randn({1, kPrefix, kDim})};
}

// A ViT-like tokens module: patchify with unfold, a linear projection held as a
// buffer, the prefix tokens in front. Returns [B, kPrefix + h*w, D].
void saveTokensModule(const std::string& path, const TokenWeights& w) {
  torch::jit::Module m("tokens");
  m.register_buffer("proj", w.proj);
  m.register_buffer("prefix", w.prefix);
  m.define(R"(
def forward(self, x):
    B = x.size(0)
    t = x.unfold(2, 8, 8).unfold(3, 8, 8)
    t = t.permute([0, 2, 3, 1, 4, 5])
    t = t.reshape([B, t.size(1) * t.size(2), -1])
    t = torch.matmul(t, self.proj)
    return torch.cat([self.prefix.expand(B, -1, -1), t], 1)
)");
  m.save(path);
}

// The tokens module's patch grid computed another way: its projection is a
// stride-p convolution whose filters are the columns of proj.
torch::Tensor expectedTokenGrid(const TokenWeights& w, const torch::Tensor& x) {
  const torch::Tensor filters = w.proj.t().reshape({kDim, kChans, kPatch, kPatch});
  return torch::conv2d(x, filters, {}, kPatch).permute({0, 2, 3, 1});  // [B, h, w, D]
}

// A module returning a feature map [B, D, h, w]: a stride-p convolution.
void saveMapModule(const std::string& path, const torch::Tensor& weight,
                   const torch::Tensor& bias) {
  torch::jit::Module m("map");
  m.register_buffer("weight", weight);
  m.register_buffer("bias", bias);
  m.define(R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, self.bias, [8, 8])
)");
  m.save(path);
}

// Ignores its input and always returns the same 4 tokens (a 2 x 2 grid, no prefix).
void saveFixedTokensModule(const std::string& path) {
  torch::jit::Module m("fixed");
  m.register_buffer("tokens", torch::ones({1, 4, kDim}));
  m.define(R"(
def forward(self, x):
    return self.tokens.expand(x.size(0), -1, -1)
)");
  m.save(path);
}

// Ignores its input and always returns a [B, D, 2, 2] map.
void saveFixedMapModule(const std::string& path) {
  torch::jit::Module m("fixedmap");
  m.register_buffer("map", torch::ones({1, kDim, 2, 2}));
  m.define(R"(
def forward(self, x):
    return self.map.expand(x.size(0), -1, -1, -1)
)");
  m.save(path);
}

}  // namespace

TEST_CASE("torchscript: tokens module with <file>.json sidecar", "[torchscript]") {
  TempDir tmp;
  const TokenWeights w = tokenWeights();
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, w);
  writeText(pt + ".json", sidecar(kInput, kPatch, kPrefix));

  const auto enc = openEncoder(pt, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  const EncoderInfo& info = enc->info();
  CHECK(info.patch_size == kPatch);
  CHECK(info.embed_dim == kDim);  // learned by the probe forward
  CHECK(info.num_prefix_tokens == kPrefix);
  CHECK(info.in_chans == kChans);
  CHECK(info.input_height == kInput);
  CHECK(info.input_width == kInput);
  CHECK_FALSE(info.dynamic_input);
  CHECK(info.weights == pt);
  CHECK(info.device == "cpu");
  CHECK(info.dtype == "float32");

  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({2, kChans, kInput, kInput});
  const torch::Tensor got = enc->forward(x);
  CHECK(got.sizes() == torch::IntArrayRef{2, 2, 2, kDim});
  CHECK(got.is_contiguous());
  CHECK(got.scalar_type() == torch::kFloat32);
  CHECK(maxAbsDiff(got, expectedTokenGrid(w, x)) < 1e-5);
}

TEST_CASE("torchscript: tokens module with <stem>.json sidecar", "[torchscript]") {
  TempDir tmp;
  const TokenWeights w = tokenWeights();
  const std::string pt = tmp.file("model.pt");
  saveTokensModule(pt, w);
  writeText(tmp.file("model.json"), sidecar(kInput, kPatch, kPrefix));

  const auto enc = openEncoder(pt, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  CHECK(enc->info().patch_size == kPatch);
  CHECK(enc->info().num_prefix_tokens == kPrefix);
  CHECK(enc->info().embed_dim == kDim);
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({1, kChans, kInput, kInput});
  CHECK(maxAbsDiff(enc->forward(x), expectedTokenGrid(w, x)) < 1e-5);
}

TEST_CASE("torchscript: map module output is permuted to [B h w D]", "[torchscript]") {
  TempDir tmp;
  // 4 input channels and 5 features, so neither can be mistaken for a grid size.
  constexpr int chans = 4, dim = 5;
  torch::manual_seed(3);
  const torch::Tensor weight = torch::randn({dim, chans, kPatch, kPatch});
  const torch::Tensor bias = torch::randn({dim});
  const std::string pt = tmp.file("map.pt");
  saveMapModule(pt, weight, bias);
  writeText(pt + ".json", sidecar(kInput, kPatch, 0, "\"in_chans\": 4, \"dynamic_input\": true"));

  const auto enc = openEncoder(pt, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  CHECK(enc->info().in_chans == chans);
  CHECK(enc->info().embed_dim == dim);
  CHECK(enc->info().dynamic_input);

  // 16 x 24: a 2 x 3 grid, so rows and columns cannot be swapped unnoticed.
  const torch::Tensor x = torch::randn({2, chans, 16, 24});
  const torch::Tensor got = enc->forward(x);
  REQUIRE(got.sizes() == torch::IntArrayRef{2, 2, 3, dim});
  CHECK(got.is_contiguous());
  // Each cell is the dot product of one filter with one input patch.
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t d = 0; d < dim; ++d) {
          const torch::Tensor patch =
              x[b].narrow(1, i * kPatch, kPatch).narrow(2, j * kPatch, kPatch);
          const double expected = (patch * weight[d]).sum().item<double>() + bias[d].item<double>();
          INFO("b=" << b << " i=" << i << " j=" << j << " d=" << d);
          CHECK(got[b][i][j][d].item<double>() == Approx(expected).margin(1e-4));
        }
}

TEST_CASE("torchscript: EncoderOptions override the JSON", "[torchscript]") {
  TempDir tmp;
  const TokenWeights w = tokenWeights();
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, w);

  SECTION("wrong JSON values replaced by options") {
    // With these the probe would see 6 tokens for a 6 x 6 grid: it cannot run.
    writeText(pt + ".json", sidecar(24, 4, 0));
    EncoderOptions o = cpuOptions();
    o.input_size = kInput;
    o.patch_size = kPatch;
    o.num_prefix_tokens = kPrefix;
    const auto enc = openEncoder(pt, o);
    INFO(CPLGetLastErrorMsg());
    REQUIRE(enc);
    CHECK(enc->info().input_height == kInput);
    CHECK(enc->info().patch_size == kPatch);
    CHECK(enc->info().num_prefix_tokens == kPrefix);
    torch::manual_seed(4);
    const torch::Tensor x = torch::randn({1, kChans, kInput, kInput});
    CHECK(maxAbsDiff(enc->forward(x), expectedTokenGrid(w, x)) < 1e-5);
  }
  SECTION("options alone, no JSON") {
    EncoderOptions o = cpuOptions();
    o.input_size = kInput;
    o.patch_size = kPatch;
    o.num_prefix_tokens = kPrefix;
    const auto enc = openEncoder(pt, o);
    INFO(CPLGetLastErrorMsg());
    REQUIRE(enc);
    CHECK(enc->info().num_prefix_tokens == kPrefix);
  }
  SECTION("num_prefix_tokens 0 is a value and not 'unset'") {
    writeText(pt + ".json", sidecar(kInput, kPatch, kPrefix));
    EncoderOptions o = cpuOptions();
    o.num_prefix_tokens = 0;  // the module has 2: 6 tokens for a 2 x 2 grid
    ExpectErrors quiet;
    CHECK_FALSE(openEncoder(pt, o));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("tokens"));
  }
}

TEST_CASE("torchscript: no JSON and no options is an error naming input_size", "[torchscript]") {
  TempDir tmp;
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, tokenWeights());
  ExpectErrors quiet;
  CHECK_FALSE(openEncoder(pt, cpuOptions()));
  CHECK(CPLGetLastErrorType() == CE_Failure);
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("input_size"));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains(pt));
}

TEST_CASE("torchscript: input size not a multiple of the patch size is refused", "[torchscript]") {
  TempDir tmp;
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, tokenWeights());
  writeText(pt + ".json", sidecar(20, kPatch, kPrefix));
  ExpectErrors quiet;
  CHECK_FALSE(openEncoder(pt, cpuOptions()));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("patch_size"));
}

TEST_CASE("torchscript: wrong token count or map size from the module throws", "[torchscript]") {
  TempDir tmp;
  const torch::Tensor x24 = torch::zeros({1, kChans, 24, 24});

  SECTION("tokens") {
    // Right for the 16 x 16 probe (2 x 2 grid), wrong for 24 x 24 (3 x 3).
    const std::string pt = tmp.file("fixed.pt");
    saveFixedTokensModule(pt);
    writeText(pt + ".json", sidecar(kInput, kPatch, 0, "\"dynamic_input\": true"));
    const auto enc = openEncoder(pt, cpuOptions());
    INFO(CPLGetLastErrorMsg());
    REQUIRE(enc);
    CHECK(enc->forward(torch::zeros({2, kChans, kInput, kInput})).sizes() ==
          torch::IntArrayRef{2, 2, 2, kDim});
    CHECK_THROWS_WITH(enc->forward(x24), Catch::Contains("tokens"));
  }
  SECTION("tokens already wrong at the probe") {
    const std::string pt = tmp.file("fixed.pt");
    saveFixedTokensModule(pt);
    writeText(pt + ".json", sidecar(kInput, kPatch, 1));  // 4 tokens != 1 + 2 x 2
    ExpectErrors quiet;
    CHECK_FALSE(openEncoder(pt, cpuOptions()));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("tokens"));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains(pt));
  }
  SECTION("map") {
    const std::string pt = tmp.file("fixedmap.pt");
    saveFixedMapModule(pt);
    writeText(pt + ".json", sidecar(kInput, kPatch, 0, "\"dynamic_input\": true"));
    const auto enc = openEncoder(pt, cpuOptions());
    INFO(CPLGetLastErrorMsg());
    REQUIRE(enc);
    CHECK_THROWS_WITH(enc->forward(x24), Catch::Contains("map"));
  }
}

TEST_CASE("torchscript: wrong input shape throws", "[torchscript]") {
  TempDir tmp;
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, tokenWeights());
  writeText(pt + ".json", sidecar(kInput, kPatch, kPrefix));
  const auto enc = openEncoder(pt, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  // Not dynamic: only the declared input size is accepted.
  CHECK_THROWS_AS(enc->forward(torch::zeros({1, kChans, 24, 24})), std::invalid_argument);
  CHECK_THROWS_AS(enc->forward(torch::zeros({1, kChans, kInput, 24})), std::invalid_argument);
  CHECK_THROWS_AS(enc->forward(torch::zeros({1, 4, kInput, kInput})), std::invalid_argument);
  CHECK_THROWS_WITH(enc->forward(torch::zeros({1, 1, kInput, kInput})),
                    Catch::Contains("[1, 1, 16, 16]"));
}

// A tensor of the wrong rank must get the same friendly invalid_argument as a
// wrong size, not LibTorch's "Dimension out of range" from reading size(3).
TEST_CASE("torchscript: wrong input rank throws invalid_argument", "[torchscript]") {
  TempDir tmp;
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, tokenWeights());
  writeText(pt + ".json", sidecar(kInput, kPatch, kPrefix));
  const auto enc = openEncoder(pt, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  CHECK_THROWS_AS(enc->forward(torch::zeros({kChans, kInput, kInput})), std::invalid_argument);
  CHECK_THROWS_AS(enc->forward(torch::zeros({kInput, kInput})), std::invalid_argument);
}

TEST_CASE("torchscript: archive detection and openEncoder dispatch", "[torchscript]") {
  TempDir tmp;
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, tokenWeights());
  writeText(pt + ".json", sidecar(kInput, kPatch, kPrefix));
  CHECK(isTorchScriptArchive(pt));

  // A tiny native ViT, saved as safetensors and as a torch.save-style state dict.
  ViTConfig c;
  c.architecture = "vit_tiny_patch8";
  c.embed_dim = 32;
  c.depth = 1;
  c.num_heads = 2;
  c.mlp_hidden = 64;
  c.patch_size = 8;
  c.img_size = c.input_height = c.input_width = 16;
  const StateDict sd = randomViTWeights(c, 11);
  const std::string dir = tmp.file("vit");
  REQUIRE(writeModelFolder(dir, c, sd));
  const std::string safetensors = dir + "/model.safetensors";
  CHECK_FALSE(isTorchScriptArchive(safetensors));

  const std::string pth = dir + "/model.pth";
  const std::vector<char> bytes = vitfeat::test::writePickledStateDict(pth, sd);
  REQUIRE(!bytes.empty());
  REQUIRE(bytes.size() > 4);
  CHECK(std::string(bytes.data(), 2) == "PK");  // really a zip, like a scripted module
  CHECK_FALSE(isTorchScriptArchive(pth));
  CHECK_FALSE(isTorchScriptArchive(tmp.file("does_not_exist.pt")));

  // The scripted module opens as TorchScript (named after its file, fixed size);
  // the state dicts open as the native ViT (named after the architecture, any size).
  const auto script = openEncoder(pt, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(script);
  CHECK(script->info().name == "tokens.pt");
  CHECK_FALSE(script->info().dynamic_input);
  for (const std::string& weights : {safetensors, pth}) {
    const auto vit = openEncoder(weights, cpuOptions());
    INFO(weights << ": " << CPLGetLastErrorMsg());
    REQUIRE(vit);
    CHECK(vit->info().name == "vit_tiny_patch8");
    CHECK(vit->info().dynamic_input);
    CHECK(vit->info().num_prefix_tokens == 1);
  }
}

TEST_CASE("torchscript: mean and std from the JSON reach info()", "[torchscript]") {
  TempDir tmp;
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, tokenWeights());
  writeText(pt + ".json", sidecar(kInput, kPatch, kPrefix,
                                  "\"mean\": [0.1, 0.2, 0.3], \"std\": [0.25, 0.5, 0.75]"));
  const auto enc = openEncoder(pt, cpuOptions());
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  const std::vector<float> mean = enc->info().mean, std = enc->info().std;
  REQUIRE(mean.size() == 3);
  REQUIRE(std.size() == 3);
  CHECK(mean[0] == Approx(0.1f));
  CHECK(mean[1] == Approx(0.2f));
  CHECK(mean[2] == Approx(0.3f));
  CHECK(std[0] == Approx(0.25f));
  CHECK(std[1] == Approx(0.5f));
  CHECK(std[2] == Approx(0.75f));
}

TEST_CASE("torchscript: a JSON that does not parse is an error", "[torchscript]") {
  TempDir tmp;
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, tokenWeights());
  writeText(pt + ".json", "{\"input_size\": 16,");
  ExpectErrors quiet;
  CHECK_FALSE(openEncoder(pt, cpuOptions()));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains(pt + ".json"));
}

TEST_CASE("torchscript: bfloat16 runs the module in bfloat16 and returns float32",
          "[torchscript]") {
  TempDir tmp;
  const TokenWeights w = tokenWeights();
  const std::string pt = tmp.file("tokens.pt");
  saveTokensModule(pt, w);
  writeText(pt + ".json", sidecar(kInput, kPatch, kPrefix));
  EncoderOptions o = cpuOptions();
  o.dtype = "bfloat16";
  const auto enc = openEncoder(pt, o);
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  CHECK(enc->info().dtype == "bfloat16");
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({1, kChans, kInput, kInput});
  const torch::Tensor got = enc->forward(x);
  CHECK(got.scalar_type() == torch::kFloat32);
  // bfloat16 keeps 8 bits of mantissa: the 192-term dot products (values of
  // order 1) agree to a few hundredths, yet are not bit-identical to float32.
  const double diff = maxAbsDiff(got, expectedTokenGrid(w, x));
  CHECK(diff < 0.1);
  CHECK(diff > 0);
}
