#include "models/module_loading.h"

#include <set>

#include "models/channel_adapt.h"

namespace vitfeat {

bool loadByName(torch::nn::Module& module, const StateDict& sd, const std::string& weightsPath,
                const std::string& what, const std::vector<std::string>& ignoredPrefixes) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (auto& item : module.named_parameters(/*recurse=*/true))
    targets.emplace_back(item.key(), item.value());
  for (auto& item : module.named_buffers(/*recurse=*/true))
    targets.emplace_back(item.key(), item.value());
  for (auto& [key, value] : targets) {
    const auto it = sd.find(key);
    if (it == sd.end()) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: missing key '%s' (a %s tensor of %s)",
               weightsPath.c_str(), key.c_str(), c10::str(value.sizes()).c_str(), what.c_str());
      return false;
    }
    if (it->second.sizes() != value.sizes()) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: key '%s' has shape %s, %s expects %s",
               weightsPath.c_str(), key.c_str(), c10::str(it->second.sizes()).c_str(), what.c_str(),
               c10::str(value.sizes()).c_str());
      return false;
    }
    value.copy_(it->second);
    used.insert(key);
  }
  for (const auto& kv : sd) {
    if (used.count(kv.first)) continue;
    bool ignored = false;
    for (const auto& prefix : ignoredPrefixes) ignored = ignored || kv.first.rfind(prefix, 0) == 0;
    if (ignored) continue;
    CPLError(CE_Failure, CPLE_AppDefined,
             "%s: unexpected key '%s': the checkpoint has a part that %s does not",
             weightsPath.c_str(), kv.first.c_str(), what.c_str());
    return false;
  }
  return true;
}

std::optional<PreparedWeights> prepareWeights(const StateDict& sd, int storedChans,
                                              const std::string& firstConv,
                                              const std::string& weightsPath,
                                              const EncoderOptions& options) {
  const auto device = resolveDevice(options.device);
  if (!device) return std::nullopt;
  const auto dtype = resolveDtype(options.dtype, *device);
  if (!dtype) return std::nullopt;
  applyCudaPrecision(*device, *dtype);
  PreparedWeights p{*device, *dtype, sd, storedChans};
  if (options.in_chans > 0 && options.in_chans != storedChans) {
    if (!adaptInputConvIn(p.weights, firstConv, options.in_chans, weightsPath)) return std::nullopt;
    p.in_chans = options.in_chans;
  }
  return p;
}

}  // namespace vitfeat
