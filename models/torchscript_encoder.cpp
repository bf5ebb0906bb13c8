#include "models/torchscript_encoder.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <torch/torch.h>

#include <stdexcept>

namespace vitfeat {

bool isTorchScriptArchive(const std::string& path) {
  const std::string zip = "/vsizip/{" + path + "}";
  const CPLStringList top(VSIReadDir(zip.c_str()));
  for (int i = 0; i < top.size(); ++i) {
    VSIStatBufL st;
    const std::string probe = zip + "/" + top[i] + "/constants.pkl";
    if (VSIStatL(probe.c_str(), &st) == 0) return true;
  }
  return false;
}

namespace {

// <file>.json, else <dir>/<stem>.json.
std::string sidecarJson(const std::string& path) {
  VSIStatBufL st;
  const std::string full = path + ".json";
  if (VSIStatL(full.c_str(), &st) == 0) return full;
  const std::string stem = CPLResetExtension(path.c_str(), "json");
  if (VSIStatL(stem.c_str(), &st) == 0) return stem;
  return {};
}

std::vector<float> floats(const CPLJSONArray& a) {
  std::vector<float> v;
  for (int i = 0; i < a.Size(); ++i) v.push_back(static_cast<float>(a[i].ToDouble()));
  return v;
}

}  // namespace

TorchScriptEncoder::TorchScriptEncoder(torch::jit::Module module, torch::Device device,
                                       torch::ScalarType dtype)
    : module_(std::move(module)), device_(device), dtype_(dtype) {}

std::unique_ptr<TorchScriptEncoder> TorchScriptEncoder::open(const std::string& path,
                                                             const EncoderOptions& options) {
  const auto device = resolveDevice(options.device);
  if (!device) return nullptr;
  const auto dtype = resolveDtype(options.dtype, *device);
  if (!dtype) return nullptr;
  applyCudaPrecision(*device, *dtype);

  EncoderInfo info;
  info.name = CPLGetFilename(path.c_str());
  info.weights = path;
  info.num_prefix_tokens = 0;
  info.mean = {0.485f, 0.456f, 0.406f};
  info.std = {0.229f, 0.224f, 0.225f};
  int input_size = 0;
  const std::string json = sidecarJson(path);
  if (!json.empty()) {
    CPLJSONDocument doc;
    if (!doc.Load(json)) {
      CPLError(CE_Failure, CPLE_OpenFailed, "%s: cannot parse as JSON", json.c_str());
      return nullptr;
    }
    const CPLJSONObject r = doc.GetRoot();
    input_size = r.GetInteger("input_size", 0);
    info.patch_size = r.GetInteger("patch_size", 0);
    info.num_prefix_tokens = r.GetInteger("num_prefix_tokens", 0);
    info.in_chans = r.GetInteger("in_chans", 3);
    info.dynamic_input = r.GetBool("dynamic_input", false);
    if (r.GetArray("mean").IsValid()) info.mean = floats(r.GetArray("mean"));
    if (r.GetArray("std").IsValid()) info.std = floats(r.GetArray("std"));
  }
  if (options.input_size > 0) input_size = options.input_size;
  if (options.patch_size > 0) info.patch_size = options.patch_size;
  if (options.num_prefix_tokens >= 0) info.num_prefix_tokens = options.num_prefix_tokens;
  if (options.in_chans > 0) info.in_chans = options.in_chans;
  if (input_size <= 0 || info.patch_size <= 0 || input_size % info.patch_size != 0) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: a TorchScript model needs input_size and patch_size (input_size a multiple of "
             "patch_size), in %s or as options; got input_size=%d patch_size=%d",
             path.c_str(), json.empty() ? (path + ".json").c_str() : json.c_str(), input_size,
             info.patch_size);
    return nullptr;
  }
  info.input_height = info.input_width = input_size;
  info.device = device->str();
  info.dtype = dtypeName(*dtype);

  try {
    torch::jit::Module module = torch::jit::load(path, *device);
    module.eval();
    module.to(*dtype);
    std::unique_ptr<TorchScriptEncoder> enc(
        new TorchScriptEncoder(std::move(module), *device, *dtype));
    enc->info_ = info;
    const torch::Tensor probe = enc->run(torch::zeros({1, info.in_chans, input_size, input_size}));
    enc->info_.embed_dim = static_cast<int>(probe.size(3));
    return enc;
  } catch (const c10::Error& e) {
    // The first line is the message; the rest is a C++ backtrace.
    const std::string msg = e.what_without_backtrace();
    CPLError(CE_Failure, CPLE_AppDefined, "%s: cannot load or run the TorchScript module: %s",
             path.c_str(), msg.substr(0, msg.find('\n')).c_str());
    return nullptr;
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: cannot load or run the TorchScript module: %s",
             path.c_str(), e.what());
    return nullptr;
  }
}

torch::Tensor TorchScriptEncoder::forward(const torch::Tensor& x) const {
  const int p = info_.patch_size;
  // Rank and channels first: sizes are only read from a 4-D tensor.
  const bool shapeOk =
      x.dim() == 4 && x.size(1) == info_.in_chans &&
      (info_.dynamic_input ? (x.size(2) % p == 0 && x.size(3) % p == 0)
                           : (x.size(2) == info_.input_height && x.size(3) == info_.input_width));
  if (!shapeOk)
    throw std::invalid_argument(
        "TorchScript encoder input must be [B, " + std::to_string(info_.in_chans) + ", " +
        std::to_string(info_.input_height) + ", " + std::to_string(info_.input_width) + "], got " +
        c10::str(x.sizes()));
  return run(x);
}

torch::Tensor TorchScriptEncoder::run(const torch::Tensor& x) const {
  const int64_t B = x.size(0), h = x.size(2) / info_.patch_size, w = x.size(3) / info_.patch_size;
  torch::Tensor out;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    c10::InferenceMode inference;
    c10::IValue result = module_.forward({toModelInput(x, device_, dtype_)});
    if (result.isTuple()) result = result.toTuple()->elements().at(0);
    if (result.isList()) result = result.toListRef().at(0);
    out = toHostFloat(result.toTensor());
  }
  if (out.dim() == 3) {
    const int64_t tokens = out.size(1) - info_.num_prefix_tokens;
    if (tokens != h * w)
      throw std::runtime_error("TorchScript module returned " + std::to_string(out.size(1)) +
                               " tokens; expected " + std::to_string(info_.num_prefix_tokens) +
                               " prefix + " + std::to_string(h) + "x" + std::to_string(w));
    return out.narrow(1, info_.num_prefix_tokens, tokens)
        .reshape({B, h, w, out.size(2)})
        .contiguous();
  }
  if (out.dim() == 4) {
    if (out.size(2) != h || out.size(3) != w)
      throw std::runtime_error("TorchScript module returned a " + c10::str(out.sizes()) +
                               " map; expected [B, D, " + std::to_string(h) + ", " +
                               std::to_string(w) + "]");
    return out.permute({0, 2, 3, 1}).contiguous();
  }
  throw std::runtime_error("TorchScript module returned " + c10::str(out.sizes()) +
                           "; expected tokens [B, N, D] or a map [B, D, h, w]");
}

}  // namespace vitfeat
