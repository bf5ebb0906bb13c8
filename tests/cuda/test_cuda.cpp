// Checks that need a GPU: built only against a CUDA LibTorch (tests/CMakeLists.txt),
// and run where one is visible. Debian's LibTorch is CPU-only, so CI never builds
// them; docs/models.md says how they were run and what they gave.
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "models/encoder_factory.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/npy.h"
#include "tests/support/rasters.h"

using namespace vitfeat;
using namespace vitfeat::test;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Encoder> openOn(const std::string& dir, const std::string& device,
                                const std::string& dtype) {
  EncoderOptions o;
  o.device = device;
  o.dtype = dtype;
  auto enc = openEncoder(dir, o);
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  return enc;
}

// Smallest cosine similarity between corresponding feature vectors (last axis).
double minCosine(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::cosine_similarity(a.flatten(0, -2), b.flatten(0, -2), 1).min().item<double>();
}

// timm fixture folders present with their weights (the _dyn224 one holds a link).
std::vector<fs::path> fixtureDirs() {
  std::vector<fs::path> dirs;
  const fs::path root = fs::path(sharedDir()) / "fixtures" / "timm";
  if (!fs::exists(root)) return dirs;
  for (const auto& entry : fs::directory_iterator(root)) {
    const fs::path weights = entry.path() / "model.safetensors";
    if (fs::exists(weights) && fs::file_size(weights) > 1024 &&
        fs::exists(entry.path() / "patch_grid.npy"))
      dirs.push_back(entry.path());
  }
  return dirs;
}

}  // namespace

TEST_CASE("a GPU is visible to this CUDA build", "[cuda]") {
  REQUIRE(torch::cuda::is_available());
  std::cout << "cuda: " << torch::cuda::device_count() << " device(s)\n";
}

TEST_CASE("on CUDA, every timm fixture present matches timm", "[cuda][shared]") {
  const auto dirs = fixtureDirs();
  REQUIRE(!dirs.empty());
  for (const fs::path& dir : dirs) {
    const torch::Tensor input = loadNpy((dir / "input.npy").string());
    const torch::Tensor expected = loadNpy((dir / "patch_grid.npy").string());
    const auto f32 = openOn(dir.string(), "cuda", "float32");
    CHECK(f32->info().device == "cuda:0");
    const torch::Tensor got = f32->forward(input);
    REQUIRE(got.sizes() == expected.sizes());
    const double diff = (got - expected).abs().max().item<double>();
    std::cout << dir.filename().string() << " cuda float32: max |diff| " << diff << "\n";
    CHECK(diff <= 1e-4);
    for (const std::string dtype : {"bfloat16", "float16"}) {
      const double cosine =
          minCosine(openOn(dir.string(), "cuda", dtype)->forward(input), expected);
      std::cout << dir.filename().string() << " cuda " << dtype << ": min cosine " << cosine
                << "\n";
      CHECK(cosine >= 0.99);
    }
  }
}

TEST_CASE("float32 on CUDA keeps TF32 off unless asked", "[cuda]") {
  TempDir tmp;
  const std::string model = writeTinyModel(tmp.file("model"));
  at::globalContext().setAllowTF32CuDNN(true);
  openOn(model, "cuda", "float32");
  CHECK_FALSE(at::globalContext().allowTF32CuDNN());
  CHECK_FALSE(at::globalContext().allowTF32CuBLAS());
  CPLSetConfigOption("VITFEAT_CUDA_TF32", "YES");
  openOn(model, "cuda", "float32");
  CPLSetConfigOption("VITFEAT_CUDA_TF32", nullptr);
  CHECK(at::globalContext().allowTF32CuDNN());
  openOn(model, "cuda", "float32");
  CHECK_FALSE(at::globalContext().allowTF32CuDNN());
}

TEST_CASE("the driver on CUDA gives the CPU's features", "[cuda]") {
  setupGdal();
  TempDir tmp;
  const std::string raster = tmp.file("in.tif"), model = writeTinyModel(tmp.file("model"), 64, 2);
  writeRaster(raster, 300, 260, 3, GDT_Byte,
              [](int x, int y, int b) { return (x * 7 + y * 3 + b * 50) % 256; });
  const std::map<std::string, std::string> common{
      {"MODEL", model}, {"STRIDE", "32"}, {"BLEND", "cosine"}, {"BATCH_SIZE", "5"}};
  auto on = [&](const std::string& device) {
    auto options = common;
    options["DEVICE"] = device;
    auto ds = openFeatures(raster, options);
    REQUIRE(ds);
    const char* used = ds->GetMetadataItem("DEVICE", "VITFEAT");
    return std::make_pair(readAll(ds.get()), std::string(used ? used : ""));
  };
  const auto [cpu, cpuDevice] = on("cpu");
  const auto [gpu, gpuDevice] = on("cuda");
  CHECK(cpuDevice == "cpu");
  CHECK(gpuDevice == "cuda:0");
  REQUIRE(cpu.size() == gpu.size());
  double diff = 0;
  for (size_t i = 0; i < cpu.size(); ++i) diff = std::max(diff, double(std::abs(cpu[i] - gpu[i])));
  std::cout << "driver cuda vs cpu: max |diff| " << diff << " over " << cpu.size() << " values\n";
  CHECK(diff <= 1e-4);
}

TEST_CASE("four handles read one CUDA dataset at once", "[cuda]") {
  setupGdal();
  TempDir tmp;
  const std::string raster = tmp.file("in.tif"), model = writeTinyModel(tmp.file("model"), 64, 2);
  writeRaster(raster, 256, 256, 3, GDT_Byte,
              [](int x, int y, int b) { return (x * x + y * 5 + b * 30) % 256; });
  const std::map<std::string, std::string> options{
      {"MODEL", model}, {"DEVICE", "cuda"}, {"STRIDE", "32"}, {"BATCH_SIZE", "4"}};
  const std::vector<float> reference = readAll(openFeatures(raster, options).get());
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto ds = openFeatures(raster, options);
      if (ds) got[t] = readAll(ds.get());
    });
  for (auto& t : threads) t.join();
  // Batches differ between handles (a tile one handle computed is reused by the
  // others), and kernels may differ with the batch size: equal within 1e-5.
  for (const auto& g : got) {
    REQUIRE(g.size() == reference.size());
    double diff = 0;
    for (size_t i = 0; i < g.size(); ++i)
      diff = std::max(diff, double(std::abs(g[i] - reference[i])));
    CHECK(diff <= 1e-5);
  }
}
