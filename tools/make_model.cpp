// vitfeat_make_model: writes a seeded, randomly initialised timm ViT as a model
// folder (config.json + model.safetensors) that vitfeat loads like a hub
// snapshot. For examples, tests and benchmarks: no pretrained weights ship.
//
//   vitfeat_make_model OUT_DIR [--arch vit_tiny_patch16_224] [--depth N]
//                      [--embed-dim N --heads N] [--input-size N] [--seed N]
#include <cstdio>
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
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--arch")
      arch = v;
    else if (k == "--depth")
      depth = std::stoi(v);
    else if (k == "--embed-dim")
      embed = std::stoi(v);
    else if (k == "--heads")
      heads = std::stoi(v);
    else if (k == "--input-size")
      input = std::stoi(v);
    else if (k == "--seed")
      seed = std::stoul(v);
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
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
  if (!vitfeat::writeModelFolder(out, *config, vitfeat::randomViTWeights(*config, seed))) return 1;
  std::printf("wrote %s (%s, depth %d, dim %d, patch %d)\n", out.c_str(), arch.c_str(),
              config->depth, config->embed_dim, config->patch_size);
  return 0;
}
