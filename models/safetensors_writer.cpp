#include "models/safetensors_writer.h"

#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_vsi.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

namespace vitfeat {

bool writeSafetensors(const std::string& path, const StateDict& sd) {
  CPLJSONObject header;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [key, tensor] : sd) {
    const torch::Tensor t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    CPLJSONObject entry;
    entry.Add("dtype", "F32");
    CPLJSONArray shape;
    for (const int64_t d : t.sizes()) shape.Add(static_cast<GInt64>(d));
    entry.Add("shape", shape);
    CPLJSONArray offsets;
    offsets.Add(static_cast<GInt64>(offset));
    offset += t.nbytes();
    offsets.Add(static_cast<GInt64>(offset));
    entry.Add("data_offsets", offsets);
    header.Add(key, entry);
    data.push_back(t);
  }
  std::string json = header.Format(CPLJSONObject::PrettyFormat::Plain);
  json.append((8 - json.size() % 8) % 8, ' ');

  const auto close = [](VSILFILE* f) { VSIFCloseL(f); };
  std::unique_ptr<VSILFILE, decltype(close)> f(VSIFOpenL(path.c_str(), "wb"), close);
  if (!f) {
    CPLError(CE_Failure, CPLE_OpenFailed, "cannot create %s", path.c_str());
    return false;
  }
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((json.size() >> (8 * i)) & 0xff);
  bool ok = VSIFWriteL(len, 1, 8, f.get()) == 8 &&
            VSIFWriteL(json.data(), 1, json.size(), f.get()) == json.size();
  for (const torch::Tensor& t : data)
    ok = ok && VSIFWriteL(t.data_ptr(), 1, t.nbytes(), f.get()) == t.nbytes();
  if (!ok) CPLError(CE_Failure, CPLE_FileIO, "cannot write %s", path.c_str());
  return ok;
}

}  // namespace vitfeat
