#include "models/layers.h"

#include <torch/torch.h>

#include <cmath>
#include <tuple>

namespace vitfeat {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool withBias) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (withBias) bias = register_parameter("bias", torch::empty({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

LayerNormImpl::LayerNormImpl(int64_t d, double e) : dim(d), eps(e) {
  weight = register_parameter("weight", torch::empty({dim}));
  bias = register_parameter("bias", torch::empty({dim}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {dim}, weight, bias, eps);
}

Conv2dImpl::Conv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t s, int64_t p, bool withBias)
    : stride(s), padding(p) {
  weight = register_parameter("weight", torch::empty({out, in, kernel, kernel}));
  if (withBias) bias = register_parameter("bias", torch::empty({out}));
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
}

namespace {
void initWeightAndBias(torch::Tensor& weight, torch::Tensor& bias) {
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fanIn = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
    const double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}
}  // namespace

void initLikeTorch(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* linear = m->as<LinearImpl>()) {
      initWeightAndBias(linear->weight, linear->bias);
    } else if (auto* conv = m->as<Conv2dImpl>()) {
      initWeightAndBias(conv->weight, conv->bias);
    } else if (auto* norm = m->as<LayerNormImpl>()) {
      norm->weight.fill_(1);
      norm->bias.fill_(0);
    }
  }
}

}  // namespace vitfeat
