#include "models/encoder_factory.h"

#include "models/hub.h"
#include "models/state_dict.h"
#include "models/torchscript_encoder.h"
#include "models/vit_config.h"
#include "models/vit_encoder.h"

namespace vitfeat {

std::unique_ptr<Encoder> openEncoder(const std::string& spec, const EncoderOptions& options) {
  configureThreads(options.num_threads);
  const auto files = resolveModelFiles(spec);
  if (!files) return nullptr;
  if (isTorchScriptArchive(files->weights))
    return TorchScriptEncoder::open(files->weights, options);

  const auto sd = readStateDict(files->weights);
  if (!sd) return nullptr;
  const auto config = vitConfigFromFiles(files->config, *sd, files->weights);
  if (!config) return nullptr;
  return ViTEncoder::create(*config, *sd, files->weights, options);
}

}  // namespace vitfeat
