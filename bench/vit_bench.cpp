// Forward throughput of the native ViT encoder, next to the matrix-multiply
// throughput of the same machine measured in the same run, so the model's
// fraction of the machine's peak is visible. Random weights: speed does not
// depend on their values.
//
//   vit_bench [--arch vit_tiny_patch16_224] [--batch 8] [--threads 2]
//             [--dtype float32|bfloat16|float16|all] [--size N] [--seconds 5]
//             [--device cpu|cuda] [--in-chans N]
//
// --in-chans gives the model N input channels (the patch embedding grows with
// them), as the driver's models have when they read an N-band raster.
//
// On CUDA the batch starts and ends in CPU memory, as in the driver, so the
// figures include the copies; float16 is measured there too.
//
// --arch also takes samvit_base_patch16 (SAM's image encoder), and the
// remote-sensing encoders ssl4eo_moco_vit_small_patch16 (13 bands, 6 heads, no
// final norm) and dofa_vit_base_patch16 (4 bands; the wavelength-generated patch
// embedding is computed once at open, so the forward is a ViT-B/16's).
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include "models/sam_vit.h"
#include "models/vit_encoder.h"

using namespace vitfeat;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string arch = "vit_tiny_patch16_224";
  int batch = 8;
  int threads = 0;
  std::string dtype = "all";
  int size = 0;
  double seconds = 5;
  std::string device = "cpu";
  int inChans = 0;  // 0: the architecture's own
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--arch")
      a.arch = v;
    else if (k == "--batch")
      a.batch = std::stoi(v);
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--dtype")
      a.dtype = v;
    else if (k == "--size")
      a.size = std::stoi(v);
    else if (k == "--device")
      a.device = v;
    else if (k == "--in-chans")
      a.inChans = std::stoi(v);
    else if (k == "--seconds")
      a.seconds = std::stod(v);
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Runs fn repeatedly for about `seconds` (after one warm-up) and returns calls/s.
template <class F>
double rate(F&& fn, double seconds) {
  fn();
  int calls = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds || calls < 3) {
    fn();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return calls / elapsed;
}

// Rounds of model and matrix-product timing, alternated (main()).
constexpr int kRounds = 3;

// Side of the measured matrix products: on CUDA larger ones, which a GPU needs
// to reach its peak.
int64_t matmulSize(const torch::Device& device) { return device.is_cuda() ? 8192 : 1024; }

// Each product waited for on CUDA.
double matmulFlops(torch::ScalarType t, double seconds, const torch::Device& device) {
  const int64_t n = matmulSize(device);
  const torch::Tensor a = torch::randn({n, n}).to(device, t),
                      b = torch::randn({n, n}).to(device, t);
  c10::InferenceMode guard;
  return 2.0 * n * n * n *
         rate(
             [&] {
               (void)a.matmul(b);
               if (device.is_cuda()) torch::cuda::synchronize();
             },
             seconds);
}

std::vector<std::string> dtypesFor(const Args& args, const torch::Device& device) {
  std::vector<std::string> all{"float32", "bfloat16"};
  if (device.is_cuda()) all.push_back("float16");
  if (args.dtype == "all") return all;
  return {args.dtype};
}

// Multiply-adds x2 of one forward, counted from the layer shapes.
double forwardFlops(const ViTConfig& c, int size) {
  const double g = size / c.patch_size, n = g * g + c.numPrefixTokens(), d = c.embed_dim;
  const double patch = 2.0 * g * g * d * c.in_chans * c.patch_size * c.patch_size;
  const double block = 2.0 * n * d * 3 * d    // qkv
                       + 2.0 * 2 * n * n * d  // q k^T and attn v
                       + 2.0 * n * d * d      // proj
                       + 2.0 * 2 * n * d * c.mlp_hidden;
  return patch + c.depth * block;
}

// The same for SAM: patch embedding, every block on the padded window grid
// (or the whole grid for global blocks), and the neck.
double samForwardFlops(const SamConfig& c, int size) {
  const double g = size / c.patch_size, d = c.embed_dim, n = g * g;
  const double ws = c.window_size, padded = std::ceil(g / ws) * ws;
  double total = 2.0 * n * d * c.in_chans * c.patch_size * c.patch_size;
  for (int i = 0; i < c.depth; ++i) {
    const double tokens = c.isGlobal(i) ? n : padded * padded;
    const double span = c.isGlobal(i) ? n : ws * ws;  // keys per query
    total +=
        2.0 * tokens * d * 4 * d + 2.0 * 2 * tokens * span * d + 2.0 * 2 * n * d * c.mlp_hidden;
  }
  return total + 2.0 * n * c.neck_chans * (d + 9.0 * c.neck_chans);
}

// Remote-sensing encoders as their ViT trunks (see the header comment).
std::optional<ViTConfig> benchConfig(const std::string& arch) {
  if (arch == "ssl4eo_moco_vit_small_patch16") {
    auto c = vitConfigFromArchitecture("vit_small_patch16_224");
    c->architecture = arch;
    c->in_chans = 13;
    c->final_norm = false;
    return c;
  }
  if (arch == "dofa_vit_base_patch16") {
    auto c = vitConfigFromArchitecture("vit_base_patch16_224");
    c->architecture = arch;
    c->in_chans = 4;
    c->patch_padding = 1;
    return c;
  }
  return vitConfigFromArchitecture(arch);
}

int benchSam(const Args& args, int threads, const torch::Device& device, double f32, double b16,
             double f16) {
  SamConfig config;  // samvit_base_patch16
  config.architecture = args.arch;
  const int size = args.size > 0 ? args.size : config.img_size;
  SamVisionTransformer random(config);
  initLikeTorch(*random);
  StateDict sd;
  for (const auto& p : random->named_parameters()) sd[p.key()] = p.value().detach();
  const double perImage = samForwardFlops(config, size);
  for (const std::string& dtype : dtypesFor(args, device)) {
    EncoderOptions o;
    o.device = args.device;
    o.dtype = dtype;
    o.num_threads = threads;
    auto enc = createSamEncoder(config, sd, "<random " + args.arch + ">", o);
    if (!enc) return 1;
    const torch::Tensor x = torch::randn({args.batch, 3, size, size});
    const double ips = args.batch * rate([&] { (void)enc->forward(x); }, args.seconds);
    const double achieved = ips * perImage;
    const double peak = dtype == "float32" ? f32 : dtype == "bfloat16" ? b16 : f16;
    std::printf("%s %s %dx%d batch %d: %.3f images/s, %.1f GFLOP/s = %.0f%% of %s matmul\n",
                args.arch.c_str(), dtype.c_str(), size, size, args.batch, ips, achieved / 1e9,
                100.0 * achieved / peak, dtype.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const int threads = configureThreads(args.threads);
  const bool sam = isSamArchitecture(args.arch);
  auto config = sam ? std::optional<ViTConfig>(ViTConfig{}) : benchConfig(args.arch);
  if (!config) return 1;
  if (args.inChans > 0) config->in_chans = args.inChans;
  const int size = args.size > 0 ? args.size : config->input_height;

  const auto device = resolveDevice(args.device);
  if (!device) return 1;
  applyCudaPrecision(*device, torch::kFloat32);
  std::printf("machine: %s, LibTorch %s, %d threads, device %s\n", cpuModel().c_str(),
              TORCH_VERSION, threads, device->str().c_str());
  const double f32 = matmulFlops(torch::kFloat32, args.seconds / 2, *device);
  const double b16 = matmulFlops(torch::kBFloat16, args.seconds / 2, *device);
  const double f16 =
      device->is_cuda() ? matmulFlops(torch::kFloat16, args.seconds / 2, *device) : 0;
  const int n = static_cast<int>(matmulSize(*device));
  std::printf("matmul %dx%d: float32 %.1f GFLOP/s, bfloat16 %.1f GFLOP/s", n, n, f32 / 1e9,
              b16 / 1e9);
  if (device->is_cuda()) std::printf(", float16 %.1f GFLOP/s", f16 / 1e9);
  std::printf("\n");
  if (sam) return benchSam(args, threads, *device, f32, b16, f16);

  // A randomly initialised model, loaded through the same path as real weights.
  VisionTransformer random(*config);
  initLikeTorch(*random);
  StateDict sd;
  for (const auto& p : random->named_parameters()) sd[p.key()] = p.value().detach();

  const double perImage = forwardFlops(*config, size);
  for (const std::string& dtype : dtypesFor(args, *device)) {
    EncoderOptions o;
    o.device = args.device;
    o.dtype = dtype;
    o.num_threads = threads;
    auto enc = createViTEncoder(*config, sd, "<random " + args.arch + ">", o);
    if (!enc) return 1;
    const torch::Tensor x = torch::randn({args.batch, config->in_chans, size, size});
    // The model and the matrix product alternated in rounds, the best of each
    // kept: a shared machine's slow spells then hit neither figure alone.
    double ips = 0;
    double peak = dtype == "float32" ? f32 : dtype == "bfloat16" ? b16 : f16;
    const torch::ScalarType type = dtype == "float32"    ? torch::kFloat32
                                   : dtype == "bfloat16" ? torch::kBFloat16
                                                         : torch::kFloat16;
    for (int round = 0; round < kRounds; ++round) {
      ips =
          std::max(ips, args.batch * rate([&] { (void)enc->forward(x); }, args.seconds / kRounds));
      peak = std::max(peak, matmulFlops(type, args.seconds / (2 * kRounds), *device));
    }
    const double achieved = ips * perImage;
    std::printf(
        "%s %s %dx%d batch %d: %.2f images/s, %.1f GFLOP/s = %.0f%% of %s matmul (%.1f GFLOP/s; "
        "best of %d alternated rounds each)\n",
        args.arch.c_str(), dtype.c_str(), size, size, args.batch, ips, achieved / 1e9,
        100.0 * achieved / peak, dtype.c_str(), peak / 1e9, kRounds);
  }
  return 0;
}
