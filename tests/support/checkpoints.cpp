#include "tests/support/checkpoints.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>

namespace vitfeat::test {

std::vector<char> writePickledStateDict(const std::string& path, const StateDict& sd) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& kv : sd) dict.insert(kv.first, kv.second);
  const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(dict));
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return f.good() ? bytes : std::vector<char>{};
}

}  // namespace vitfeat::test
