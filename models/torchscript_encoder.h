// Models the native ViT does not cover, as TorchScript modules: forward takes
// [B, C, H, W] and returns tokens [B, N, D] (prefix tokens first) or a feature
// map [B, D, h, w]. What the module cannot tell (input size, patch size,
// prefix-token count, mean/std, channels) comes from a JSON beside the file
// (<file>.json or <stem>.json) or from EncoderOptions, which win.
#pragma once

#include <torch/script.h>

#include <memory>
#include <mutex>

#include "models/encoder.h"
#include "models/runtime.h"

namespace vitfeat {

// True when path is a TorchScript archive (a zip holding constants.pkl), as
// opposed to a torch.save state dict.
bool isTorchScriptArchive(const std::string& path);

class TorchScriptEncoder final : public Encoder {
 public:
  // CPLError + nullptr on failure. Runs one probe forward to learn embed_dim.
  static std::unique_ptr<TorchScriptEncoder> open(const std::string& path,
                                                  const EncoderOptions& options);

  const EncoderInfo& info() const override { return info_; }
  torch::Tensor forward(const torch::Tensor& x) const override;

 private:
  TorchScriptEncoder(torch::jit::Module module, torch::Device device, torch::ScalarType dtype);
  torch::Tensor run(const torch::Tensor& x) const;
  // A scripted module may keep state; calls are serialised.
  mutable std::mutex mutex_;
  mutable torch::jit::Module module_;
  const torch::Device device_;
  const torch::ScalarType dtype_;
  EncoderInfo info_;
};

}  // namespace vitfeat
