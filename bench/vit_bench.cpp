// Forward throughput of the native ViT encoder, next to the matrix-multiply
// throughput of the same machine measured in the same run, so the model's
// fraction of the machine's peak is visible. Random weights: speed does not
// depend on their values.
//
//   vit_bench [--arch vit_tiny_patch16_224] [--batch 8] [--threads 2]
//             [--dtype float32|bfloat16|all] [--size N] [--seconds 5]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

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

double matmulFlops(torch::ScalarType t, double seconds) {
  const int64_t n = 1024;
  const torch::Tensor a = torch::randn({n, n}).to(t), b = torch::randn({n, n}).to(t);
  c10::InferenceMode guard;
  return 2.0 * n * n * n * rate([&] { (void)a.matmul(b); }, seconds);
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

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const int threads = configureThreads(args.threads);
  auto config = vitConfigFromArchitecture(args.arch);
  if (!config) return 1;
  const int size = args.size > 0 ? args.size : config->input_height;

  // A randomly initialised model, loaded through the same path as real weights.
  VisionTransformer random(*config);
  StateDict sd;
  for (const auto& p : random->named_parameters()) sd[p.key()] = p.value().detach();

  std::printf("machine: %s, LibTorch %s, %d threads\n", cpuModel().c_str(), TORCH_VERSION, threads);
  const double f32 = matmulFlops(torch::kFloat32, args.seconds / 2);
  const double b16 = matmulFlops(torch::kBFloat16, args.seconds / 2);
  std::printf("matmul 1024x1024: float32 %.1f GFLOP/s, bfloat16 %.1f GFLOP/s\n", f32 / 1e9,
              b16 / 1e9);

  const double perImage = forwardFlops(*config, size);
  for (const std::string dtype : {"float32", "bfloat16"}) {
    if (args.dtype != "all" && args.dtype != dtype) continue;
    EncoderOptions o;
    o.device = "cpu";
    o.dtype = dtype;
    o.num_threads = threads;
    auto enc = ViTEncoder::create(*config, sd, "<random " + args.arch + ">", o);
    if (!enc) return 1;
    const torch::Tensor x = torch::randn({args.batch, config->in_chans, size, size});
    const double ips = args.batch * rate([&] { (void)enc->forward(x); }, args.seconds);
    const double achieved = ips * perImage;
    const double peak = dtype == "float32" ? f32 : b16;
    std::printf("%s %s %dx%d batch %d: %.2f images/s, %.1f GFLOP/s = %.0f%% of %s matmul\n",
                args.arch.c_str(), dtype.c_str(), size, size, args.batch, ips, achieved / 1e9,
                100.0 * achieved / peak, dtype.c_str());
  }
  return 0;
}
