#include "models/model_folder.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_vsi.h>
#include <torch/torch.h>

#include "models/safetensors_writer.h"
#include "models/vision_transformer.h"

namespace vitfeat {

StateDict randomViTWeights(const ViTConfig& config, uint64_t seed) {
  torch::manual_seed(seed);
  VisionTransformer model(config);
  initLikeTorch(*model);
  torch::NoGradGuard no_grad;
  StateDict sd;
  for (const auto& p : model->named_parameters()) {
    torch::Tensor t = p.value().detach().clone();
    t.add_(torch::randn_like(t) * 0.05);
    sd[p.key()] = t;
  }
  return sd;
}

namespace {
CPLJSONArray floatArray(const std::vector<float>& v) {
  CPLJSONArray a;
  for (const float x : v) a.Add(static_cast<double>(x));
  return a;
}
}  // namespace

bool writeModelFolder(const std::string& dir, const ViTConfig& c, const StateDict& sd) {
  // GDAL 3.6's VSIMkdirRecursive fails on a relative path without a folder
  // part ("m"): create it by its absolute path.
  std::string absolute = dir;
  if (CPLIsFilenameRelative(dir.c_str())) {
    if (char* cwd = CPLGetCurrentDir()) {
      absolute = CPLFormFilename(cwd, dir.c_str(), nullptr);
      CPLFree(cwd);
    }
  }
  if (VSIMkdirRecursive(absolute.c_str(), 0755) != 0) {
    VSIStatBufL st;
    if (VSIStatL(dir.c_str(), &st) != 0 || !VSI_ISDIR(st.st_mode)) {
      CPLError(CE_Failure, CPLE_FileIO, "cannot create folder %s", dir.c_str());
      return false;
    }
  }
  CPLJSONDocument doc;
  CPLJSONObject root = doc.GetRoot();
  root.Add("architecture", c.architecture);
  root.Add("num_classes", 0);
  root.Add("num_features", c.embed_dim);
  CPLJSONObject args;
  args.Add("depth", c.depth);
  args.Add("embed_dim", c.embed_dim);
  args.Add("num_heads", c.num_heads);
  args.Add("patch_size", c.patch_size);
  args.Add("img_size", c.img_size);
  args.Add("no_embed_class", c.no_embed_class);
  root.Add("model_args", args);
  CPLJSONObject cfg;
  CPLJSONArray size;
  size.Add(c.in_chans);
  size.Add(c.input_height);
  size.Add(c.input_width);
  cfg.Add("input_size", size);
  cfg.Add("mean", floatArray(c.mean));
  cfg.Add("std", floatArray(c.std));
  cfg.Add("tag", "random");
  root.Add("pretrained_cfg", cfg);
  if (!doc.Save(CPLFormFilename(dir.c_str(), "config.json", nullptr))) return false;
  return writeSafetensors(CPLFormFilename(dir.c_str(), "model.safetensors", nullptr), sd);
}

}  // namespace vitfeat
