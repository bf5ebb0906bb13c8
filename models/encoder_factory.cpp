#include "models/encoder_factory.h"

#include <cpl_error.h>
#include <cpl_json.h>

#include "models/hub.h"
#include "models/rs_encoders.h"
#include "models/sam_vit.h"
#include "models/state_dict.h"
#include "models/torchscript_encoder.h"
#include "models/vit_config.h"
#include "models/vit_encoder.h"

namespace vitfeat {

namespace {

std::string architectureOf(const std::string& configPath) {
  if (configPath.empty()) return {};
  CPLJSONDocument doc;
  if (!doc.Load(configPath)) return {};
  return doc.GetRoot().GetString("architecture");
}

}  // namespace

std::unique_ptr<Encoder> openEncoder(const std::string& spec, const EncoderOptions& options) {
  configureThreads(options.num_threads);
  const auto files = resolveModelFiles(spec);
  if (!files) return nullptr;
  if (isTorchScriptArchive(files->weights))
    return TorchScriptEncoder::open(files->weights, options);

  const auto sd = readStateDict(files->weights);
  if (!sd) return nullptr;
  // The encoder family: options.encoder when given, else config.json's
  // "encoder" / "architecture", else the key layout.
  RsEncoderKind kind = RsEncoderKind::none;
  if (options.encoder.empty() || options.encoder == "auto") {
    kind = detectRsEncoder(files->config, *sd);
  } else if (options.encoder == "ssl4eo_moco") {
    kind = RsEncoderKind::ssl4eo_moco;
  } else if (options.encoder == "dofa") {
    kind = RsEncoderKind::dofa;
  } else if (options.encoder != "timm") {
    CPLError(CE_Failure, CPLE_IllegalArg,
             "unknown encoder family '%s' (auto, timm, ssl4eo_moco or dofa)",
             options.encoder.c_str());
    return nullptr;
  }
  switch (kind) {
    case RsEncoderKind::ssl4eo_moco:
      return createSsl4eoMocoEncoder(files->config, *sd, files->weights, options);
    case RsEncoderKind::dofa:
      return createDofaEncoder(files->config, *sd, files->weights, options);
    case RsEncoderKind::none:
      break;
  }
  if (isSamArchitecture(architectureOf(files->config))) {
    const auto config = samConfigFromFiles(files->config, *sd, files->weights);
    if (!config) return nullptr;
    return createSamEncoder(*config, *sd, files->weights, options);
  }
  const auto config = vitConfigFromFiles(files->config, *sd, files->weights);
  if (!config) return nullptr;
  return createViTEncoder(*config, *sd, files->weights, options);
}

}  // namespace vitfeat
