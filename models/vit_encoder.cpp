#include "models/vit_encoder.h"

#include <cpl_error.h>
#include <torch/torch.h>

#include "models/module_loading.h"

namespace vitfeat {

std::unique_ptr<Encoder> createViTEncoder(const ViTConfig& stored, const StateDict& sd,
                                          const std::string& weightsPath,
                                          const EncoderOptions& options) {
  auto p = prepareWeights(sd, stored.in_chans, "patch_embed.proj.weight", weightsPath, options);
  if (!p) return nullptr;
  ViTConfig config = stored;
  config.in_chans = p->in_chans;
  try {
    VisionTransformer model(config);
    if (!loadWeights(model, p->weights, weightsPath)) return nullptr;
    model->foldScales();  // in float32, before any conversion to the inference dtype
    model->eval();
    model->to(p->device, p->dtype);

    EncoderInfo info;
    info.name = config.architecture;
    info.weights = weightsPath;
    info.in_chans = config.in_chans;
    info.input_height = config.input_height;
    info.input_width = config.input_width;
    info.patch_size = config.patch_size;
    info.embed_dim = config.embed_dim;
    info.num_prefix_tokens = config.numPrefixTokens();
    info.dynamic_input = true;  // position embeddings are resampled to any grid
    info.mean = config.mean;
    info.std = config.std;
    info.device = p->device.str();
    info.dtype = dtypeName(p->dtype);
    return std::make_unique<ModuleEncoder<VisionTransformer>>(std::move(model), p->device, p->dtype,
                                                              std::move(info));
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: cannot build the model: %s", weightsPath.c_str(),
             e.what());
    return nullptr;
  }
}

}  // namespace vitfeat
