// The one interface the GDAL driver sees of a model: image tiles in, a grid of
// patch features out. Everything about how the features are computed (ViT
// blocks, TorchScript, device, precision) stays behind it.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace vitfeat {

struct EncoderInfo {
  std::string name;        // architecture (e.g. "vit_small_patch14_dinov2") or file name
  std::string weights;     // the file the weights were read from
  int in_chans = 3;        // channels forward() expects (after any channel adaptation)
  int input_height = 224;  // default tile size fed to the model (pretrained_cfg.input_size)
  int input_width = 224;
  int patch_size = 16;         // one output cell per patch_size x patch_size input pixels
  int embed_dim = 0;           // D: features per cell
  int num_prefix_tokens = 0;   // class + register tokens, dropped from the output
  bool dynamic_input = false;  // accepts any H, W that are multiples of patch_size
  // Pretrained normalisation as stored with the checkpoint (usually 3 values).
  std::vector<float> mean;
  std::vector<float> std;
  std::string device;  // resolved device, e.g. "cpu" or "cuda:0"
  std::string dtype;   // "float32", "bfloat16" or "float16"
};

// Pretrained mean/std extended to n input channels the way the first conv's
// weights are adapted: 1 channel takes the average, otherwise the stored values
// repeat cyclically.
std::vector<float> perChannel(const std::vector<float>& values, int n);

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual const EncoderInfo& info() const = 0;

  // x: float32 [B, in_chans, H, W] on the CPU, already normalised. H and W must
  // equal the input size, or be any multiple of patch_size when dynamic_input.
  // Returns float32 [B, H/patch, W/patch, embed_dim], contiguous, on the CPU.
  // Safe to call from several threads at once.
  virtual torch::Tensor forward(const torch::Tensor& x) const = 0;
};

}  // namespace vitfeat
