// Where a model's files are: a file, a snapshot folder, or a Hugging Face hub
// repository ("hf-hub:timm/<name>") resolved in the local hub cache and
// downloaded into it when missing.
#pragma once

#include <optional>
#include <string>

namespace vitfeat {

struct ModelFiles {
  std::string weights;  // model.safetensors, *.pth/.pt/.bin, or a TorchScript .pt
  std::string config;   // config.json beside it; empty when there is none
};

// The hub cache root, as huggingface_hub finds it: $HF_HUB_CACHE (or the legacy
// $HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub. Read with CPLGetConfigOption, so --config works too;
// empty when none can be formed (no HOME).
std::string hubCacheDir();

// "hf-hub:timm/vit_small_patch14_dinov2.lvd142m" -> "timm/vit_small_patch14_dinov2.lvd142m";
// nullopt (no error) when spec is not a hub reference.
std::optional<std::string> parseHubRepo(const std::string& spec);

// Resolves spec to files on disk. For a hub repo: looks in the cache
// (models--<org>--<name>/snapshots/<rev>/ with <rev> from refs/main when present),
// and otherwise downloads config.json and model.safetensors from
// $HF_ENDPOINT/<repo>/resolve/main/<file> (default https://huggingface.co) into
// the cache, unless VITFEAT_ALLOW_DOWNLOAD=NO. CPLError + nullopt on failure.
std::optional<ModelFiles> resolveModelFiles(const std::string& spec);

}  // namespace vitfeat
