#include "models/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <torch/cuda.h>

#include <cctype>
#include <string>
#include <thread>

namespace vitfeat {

std::string errorMessage(const std::exception& e) {
  if (const auto* torchError = dynamic_cast<const c10::Error*>(&e))
    return torchError->what_without_backtrace();
  return e.what();
}

namespace {
std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}
}  // namespace

std::optional<torch::Device> resolveDevice(const std::string& name) {
  const std::string n = lower(name);
  if (n.empty() || n == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0)
                                       : torch::Device(torch::kCPU);
  }
  if (n == "cpu") return torch::Device(torch::kCPU);
  if (n == "cuda" || n.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (n.size() > 5) {
      const std::string digits = n.substr(5);
      // At most 4 digits: std::stoi would throw past INT_MAX, and no machine has 10000 GPUs.
      if (digits.empty() || digits.size() > 4 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        CPLError(CE_Failure, CPLE_IllegalArg,
                 "DEVICE=%s: expected auto, cpu, cuda or cuda:N with N a GPU index", name.c_str());
        return std::nullopt;
      }
      index = std::stoi(digits);
    }
    if (!torch::cuda::is_available()) {
      CPLError(CE_Failure, CPLE_NotSupported,
               "DEVICE=%s: this LibTorch has no CUDA support or no GPU is visible; use DEVICE=cpu "
               "(or build against a CUDA LibTorch with -DTorch_DIR=<libtorch>/share/cmake/Torch)",
               name.c_str());
      return std::nullopt;
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count) {
      CPLError(CE_Failure, CPLE_IllegalArg, "DEVICE=%s: only %d GPU(s) visible (cuda:0..cuda:%d)",
               name.c_str(), count, count - 1);
      return std::nullopt;
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  CPLError(CE_Failure, CPLE_IllegalArg, "DEVICE=%s: expected auto, cpu, cuda or cuda:N",
           name.c_str());
  return std::nullopt;
}

std::optional<torch::ScalarType> resolveDtype(const std::string& name,
                                              const torch::Device& device) {
  const std::string n = lower(name);
  if (n.empty() || n == "float32" || n == "fp32") return torch::kFloat32;
  if (n == "bfloat16" || n == "bf16") return torch::kBFloat16;
  if (n == "float16" || n == "fp16" || n == "half") {
    if (!device.is_cuda()) {
      CPLError(CE_Failure, CPLE_NotSupported,
               "DTYPE=%s is supported on CUDA only; on the CPU use float32 or bfloat16",
               name.c_str());
      return std::nullopt;
    }
    return torch::kFloat16;
  }
  CPLError(CE_Failure, CPLE_IllegalArg, "DTYPE=%s: expected float32, bfloat16 or float16",
           name.c_str());
  return std::nullopt;
}

std::string dtypeName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "float32";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    default:
      return c10::toString(t);
  }
}

int configureThreads(int n) {
  if (n <= 0) {
    const char* gdal = CPLGetConfigOption("GDAL_NUM_THREADS", nullptr);
    if (gdal && !EQUAL(gdal, "ALL_CPUS")) n = std::atoi(gdal);
    if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  // Debian's LibTorch starts with a single intra-op thread.
  if (at::get_num_threads() != n) at::set_num_threads(n);
  return n;
}

void applyCudaPrecision(const torch::Device& device, torch::ScalarType dtype) {
  if (!device.is_cuda() || dtype != torch::kFloat32) return;
  const bool tf32 = CPLTestBool(CPLGetConfigOption("VITFEAT_CUDA_TF32", "NO"));
  at::globalContext().setAllowTF32CuDNN(tf32);
  at::globalContext().setAllowTF32CuBLAS(tf32);
}

torch::Tensor toModelInput(const torch::Tensor& x, const torch::Device& device,
                           torch::ScalarType dtype) {
  if (!device.is_cuda()) return x.to(device, dtype);
  const torch::Tensor pinned = x.is_pinned() ? x : x.contiguous().pin_memory();
  return pinned.to(device, /*non_blocking=*/true).to(dtype);
}

torch::Tensor toHostFloat(const torch::Tensor& y) {
  const torch::Tensor f = y.to(torch::kFloat32).contiguous();
  if (!f.is_cuda()) return f;
  torch::Tensor host =
      torch::empty(f.sizes(), torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(true));
  host.copy_(f);  // blocking: the model's kernels and the copy are done on return
  return host;
}

torch::Tensor pinnedFor(const torch::Tensor& x, const std::string& device) {
  return device.rfind("cuda", 0) == 0 ? x.contiguous().pin_memory() : x;
}

}  // namespace vitfeat
