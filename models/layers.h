// Linear, LayerNorm and Conv2d layers whose parameters are allocated but not
// initialised. LibTorch's own (torch::nn::Linear, ...) fill every weight with
// random values when built, which costs seconds for a large ViT (ViT-L: 1.7-3 s
// on the 2-core development machine) only to be overwritten by the checkpoint.
// The parameter names are torch's ("weight", "bias"), so the state-dict keys
// stay timm's (blocks.0.attn.qkv.weight) and loading is still name matching.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace vitfeat {

struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in, int64_t out, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;  // [out, in], [out] (undefined without bias)
};
TORCH_MODULE(Linear);

// Over the last dimension.
struct LayerNormImpl : torch::nn::Module {
  LayerNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  int64_t dim;
  double eps;
};
TORCH_MODULE(LayerNorm);

// Square kernel, equal stride on both axes, zero padding.
struct Conv2dImpl : torch::nn::Module {
  Conv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
             bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;  // [out, in, kernel, kernel], [out]
  int64_t stride, padding;
};
TORCH_MODULE(Conv2d);

// Fills every Linear, Conv2d and LayerNorm under module, in registration order,
// as LibTorch's layers fill themselves when built (kaiming-uniform weights with
// a = sqrt(5), biases uniform in +-1/sqrt(fan_in); LayerNorm ones and zeros):
// random models for tests and benchmarks, the same values for the same seed as
// torch::nn's layers would draw.
void initLikeTorch(torch::nn::Module& module);

}  // namespace vitfeat
