// libFuzzer harness: config.json (models/vit_config.cpp's vitConfigFromFiles,
// and through it vitConfigFromArchitecture, model_args and pretrained_cfg) on
// arbitrary bytes, reconciled with two tiny fixed state dicts of 8-wide,
// one-block ViTs: one with a class token, one with registers and fc_norm. No
// weights are read and no model is built.

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "models/vit_config.h"
#include "tests/fuzz/fuzz_support.h"

using vitfeat::fuzz::MemFile;

namespace {

constexpr int kDim = 8;

vitfeat::StateDict tinyStateDict(bool registers) {
  vitfeat::StateDict sd;
  sd["patch_embed.proj.weight"] = torch::zeros({kDim, 3, 4, 4});
  sd["blocks.0.norm1.weight"] = torch::ones({kDim});
  sd["blocks.0.attn.qkv.bias"] = torch::zeros({3 * kDim});
  sd["blocks.0.mlp.fc1.weight"] = torch::zeros({4 * kDim, kDim});
  if (registers) {
    sd["reg_token"] = torch::zeros({1, 2, kDim});
    sd["pos_embed"] = torch::zeros({1, 16, kDim});  // 4x4 grid, prefix tokens excluded
    sd["fc_norm.weight"] = torch::ones({kDim});
  } else {
    sd["cls_token"] = torch::zeros({1, 1, kDim});
    sd["pos_embed"] = torch::zeros({1, 17, kDim});  // class token + 4x4 grid
    sd["norm.weight"] = torch::ones({kDim});
  }
  return sd;
}

void check(const vitfeat::ViTConfig& c) {
  if (c.embed_dim != kDim || c.num_heads <= 0 || c.embed_dim % c.num_heads != 0 ||
      c.patch_size != 4 || c.depth != 1)
    MemFile::abortWith("accepted a config whose structure does not match the weights");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  vitfeat::fuzz::quietGdal();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const vitfeat::StateDict withClassToken = tinyStateDict(false);
  static const vitfeat::StateDict withRegisters = tinyStateDict(true);
  const MemFile file("/vsimem/fuzz/config.json", data, size);
  for (const vitfeat::StateDict* sd : {&withClassToken, &withRegisters}) {
    const auto config = vitfeat::fuzz::expectErrorOnFailure("vitConfigFromFiles", [&] {
      return vitfeat::vitConfigFromFiles(file.path(), *sd, "/vsimem/fuzz/model.safetensors");
    });
    if (config) check(*config);
  }
  return 0;
}
