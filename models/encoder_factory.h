// One call from a MODEL string to a ready encoder.
#pragma once

#include <memory>
#include <string>

#include "models/encoder.h"
#include "models/runtime.h"

namespace vitfeat {

// spec: a safetensors / torch.save checkpoint (config.json beside it), a
// snapshot folder, "hf-hub:timm/<name>", or a TorchScript .pt (JSON beside it).
// Also sets LibTorch's CPU threads (configureThreads(options.num_threads)).
// CPLError + nullptr on failure.
std::unique_ptr<Encoder> openEncoder(const std::string& spec, const EncoderOptions& options);

}  // namespace vitfeat
