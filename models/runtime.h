// Device, precision and thread settings shared by every encoder.
#pragma once

#include <torch/types.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace vitfeat {

struct EncoderOptions {
  std::string device = "auto";    // auto | cpu | cuda | cuda:N
  std::string dtype = "float32";  // float32 | bfloat16 | float16 (CUDA only)
  int num_threads = 0;            // CPU threads; 0: GDAL_NUM_THREADS if set, else all cores
  int in_chans = 0;  // input channels; 0: the checkpoint's. Else the first conv is adapted
  // TorchScript models only (else they come from a JSON beside the file):
  int input_size = 0;
  int patch_size = 0;
  int num_prefix_tokens = -1;
  // Wavelength-conditioned encoders (DOFA): the centre wavelength of every input
  // band, in micrometres, in input order. Ignored by the other encoders.
  std::vector<double> wavelengths;
  // Encoder family: "auto" (or empty: from config.json's "encoder"/"architecture",
  // else the checkpoint's key layout), "timm" (timm ViT or SAM by architecture),
  // "ssl4eo_moco" or "dofa".
  std::string encoder = "auto";
};

// An exception's message for a user: LibTorch's errors without the C++
// backtrace they carry (frames of a library the user cannot act on).
std::string errorMessage(const std::exception& e);

// "auto" -> CUDA when this LibTorch has it and a GPU is visible, else CPU.
// CPLError + nullopt on an unknown name or an unavailable device.
std::optional<torch::Device> resolveDevice(const std::string& name);
// CPLError + nullopt on an unknown name, or float16 on the CPU.
std::optional<torch::ScalarType> resolveDtype(const std::string& name, const torch::Device& device);
std::string dtypeName(torch::ScalarType t);
// Sets LibTorch's intra-op threads (process-wide): n, or GDAL_NUM_THREADS, or all cores.
int configureThreads(int n);

// float32 on CUDA means float32: LibTorch lets cuDNN convolutions (the patch
// embedding) use TF32, a 10-bit mantissa, by default. Called when a CUDA model
// is created; turns TF32 off for cuDNN and cuBLAS, process-wide, unless the
// config option VITFEAT_CUDA_TF32=YES asks for the faster, less exact kernels.
void applyCudaPrecision(const torch::Device& device, torch::ScalarType dtype);

// A CPU float32 batch as the model's input on device: on CUDA through pinned
// host memory (already pinned batches are not copied again) and an
// asynchronous copy, converted to dtype on the GPU.
torch::Tensor toModelInput(const torch::Tensor& x, const torch::Device& device,
                           torch::ScalarType dtype);
// The model's output as a contiguous CPU float32 tensor; from CUDA through
// pinned memory.
torch::Tensor toHostFloat(const torch::Tensor& y);
// x copied into page-locked memory when device is CUDA (so the copy to the GPU
// can be asynchronous), else x.
torch::Tensor pinnedFor(const torch::Tensor& x, const std::string& device);

}  // namespace vitfeat
