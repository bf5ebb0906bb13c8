// The reference plugin's remote-sensing encoders, from their original release
// checkpoints, computed as the plugin computes them (pangaea-bench's encoders):
//
// * SSL4EO-S12 MoCo-v3 ViT-S/16: a MoCo training checkpoint whose state dict
//   holds the ViT under module.base_encoder. (a momentum copy and a predictor
//   beside it are ignored); features are the last block's output (no final
//   norm); other band counts cycle the first conv's input channels.
// * DOFA ViT-B/16: a patch embedding generated from the wavelength of every
//   input band (a small post-norm transformer), then a timm ViT trunk with its
//   final LayerNorm.
//
// Structure: the release values (ViT-S/16 with 6 heads; ViT-B/16 with 12),
// overridden by a config.json beside the checkpoint in the fixtures' form
// ({"encoder": "ssl4eo_moco" | "dofa", "pangaea_config": {embed_dim, depth,
// num_heads, patch_size, input_size, ...}}) and checked against the weights.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/encoder.h"
#include "models/runtime.h"
#include "models/state_dict.h"

namespace vitfeat {

enum class RsEncoderKind { none, ssl4eo_moco, dofa };

// From config.json's "encoder" when present, else from the key layout
// (module.base_encoder.* -> SSL4EO MoCo; patch_embed.weight_generator.* -> DOFA).
RsEncoderKind detectRsEncoder(const std::string& configPath, const StateDict& sd);

// CPLError + nullptr on failure. DOFA needs options.wavelengths (micrometres,
// one per input band); its in_chans is their count.
std::unique_ptr<Encoder> createSsl4eoMocoEncoder(const std::string& configPath, const StateDict& sd,
                                                 const std::string& weightsPath,
                                                 const EncoderOptions& options);
std::unique_ptr<Encoder> createDofaEncoder(const std::string& configPath, const StateDict& sd,
                                           const std::string& weightsPath,
                                           const EncoderOptions& options);

// The wavelength (micrometres) the reference plugin gives raster band number n
// (1-based) for DOFA: Sentinel-2 band B<n> in pangaea's dofa.yaml (B1 0.44 ...
// B12 2.20; B8A is unreachable). nullopt for n outside 1..12, where the plugin fails.
std::optional<double> dofaSentinel2Wavelength(int bandNumber);

// pangaea's modify_first_conv2d: weight [O, I, kh, kw] -> [O, n, kh, kw] with
// input channel i taken from i % I, not rescaled.
torch::Tensor cycleInputChannels(const torch::Tensor& weight, int64_t n);

// DOFA's dynamic patch embedding for these wavelengths, from the loaded
// checkpoint (for tests): {weight [D, C, k, k], bias [D]}, float32.
std::pair<torch::Tensor, torch::Tensor> dofaDynamicWeights(const StateDict& sd,
                                                           const std::vector<double>& wavelengths,
                                                           int64_t embed_dim, int64_t kernel);

}  // namespace vitfeat
