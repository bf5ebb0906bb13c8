// vitfeat_make_model: writes a seeded, randomly initialised timm ViT as a model
// folder (config.json + model.safetensors) that vitfeat loads like a hub
// snapshot. For examples, tests and benchmarks: no pretrained weights ship.
//
//   vitfeat_make_model OUT_DIR [--arch vit_tiny_patch16_224] [--depth N]
//                      [--embed-dim N --heads N] [--input-size N] [--seed N]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "models/model_folder.h"

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: %s OUT_DIR [--arch NAME] [--depth N] [--embed-dim N --heads N] "
                 "[--input-size N] [--seed N]\n",
                 argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  std::string arch = "vit_tiny_patch16_224";
  int depth = 0, embed = 0, heads = 0, input = 0;
  unsigned long seed = 0;
  // A whole positive number, or an error naming the flag (stoi would take "3x").
  const auto count = [](const std::string& flag, const std::string& v, unsigned long& out) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || *end || n > (1ul << 30)) {
      std::fprintf(stderr, "invalid %s %s: expected a whole number from 0 to 2^30\n", flag.c_str(),
                   v.c_str());
      return false;
    }
    out = n;
    return true;
  };
  for (int i = 2; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", k.c_str());
      return 2;
    }
    const std::string v = argv[i + 1];
    unsigned long n = 0;
    if (k == "--arch") {
      arch = v;
      continue;
    }
    if (k != "--depth" && k != "--embed-dim" && k != "--heads" && k != "--input-size" &&
        k != "--seed") {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
    if (!count(k, v, n)) return 2;
    if (k == "--depth")
      depth = static_cast<int>(n);
    else if (k == "--embed-dim")
      embed = static_cast<int>(n);
    else if (k == "--heads")
      heads = static_cast<int>(n);
    else if (k == "--input-size")
      input = static_cast<int>(n);
    else
      seed = n;
  }
  auto config = vitfeat::vitConfigFromArchitecture(arch);
  if (!config) return 1;
  if (depth > 0) config->depth = depth;
  if (embed > 0) {
    config->embed_dim = embed;
    config->mlp_hidden = 4 * embed;
  }
  if (heads > 0) config->num_heads = heads;
  if (input > 0) config->input_height = config->input_width = input;
  const vitfeat::StateDict weights = vitfeat::randomViTWeights(*config, seed);
  if (!vitfeat::writeModelFolder(out, *config, weights)) return 1;
  int64_t parameters = 0;
  for (const auto& [name, tensor] : weights) parameters += tensor.numel();
  std::printf("wrote %s (%s, depth %d, dim %d, patch %d, %.2f M parameters)\n", out.c_str(),
              arch.c_str(), config->depth, config->embed_dim, config->patch_size,
              static_cast<double>(parameters) / 1e6);
  return 0;
}
