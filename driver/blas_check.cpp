#include "driver/blas_check.h"

#include <ATen/Parallel.h>
#include <cpl_error.h>

#include <mutex>

#if defined(__linux__)
#include <dlfcn.h>
#define VITFEAT_HAVE_DLADDR 1
#endif

namespace vitfeat {

#ifdef VITFEAT_HAVE_DLADDR
namespace {

// The file a loaded address belongs to, or empty.
std::string fileOf(const void* address) {
  Dl_info info{};
  if (address && dladdr(address, &info) && info.dli_fname) return info.dli_fname;
  return {};
}

// A reference to a library the process has loaded already (it never loads
// one), given back when it goes out of scope.
class LoadedLibrary {
 public:
  explicit LoadedLibrary(const std::string& file)
      : handle_(file.empty() ? nullptr : dlopen(file.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {}
  ~LoadedLibrary() {
    if (handle_) dlclose(handle_);
  }
  LoadedLibrary(const LoadedLibrary&) = delete;
  LoadedLibrary& operator=(const LoadedLibrary&) = delete;
  explicit operator bool() const { return handle_ != nullptr; }
  // `name` in the library or in the libraries it depends on, or nullptr.
  void* symbol(const char* name) const { return dlsym(handle_, name); }

 private:
  void* const handle_;
};

}  // namespace
#endif

std::string sgemmProvider() {
#ifdef VITFEAT_HAVE_DLADDR
  // As the dynamic linker resolves LibTorch's call: the process's global
  // scope first (the application and what it links, such as GDAL's BLAS)...
  if (void* const global = dlsym(RTLD_DEFAULT, "sgemm_")) return fileOf(global);
  // ...then the libraries loaded with LibTorch (the plugin is loaded with
  // local scope, so its LibTorch and that one's BLAS are not global).
  const LoadedLibrary torch(fileOf(reinterpret_cast<const void*>(&at::get_num_threads)));
  return torch ? fileOf(torch.symbol("sgemm_")) : std::string();
#else
  return {};
#endif
}

bool looksOptimisedBlas(const std::string& file) {
  if (file.find("libtorch") != std::string::npos) return true;
#ifdef VITFEAT_HAVE_DLADDR
  // A handle on the loaded library: dlsym then searches it and its
  // dependencies (Debian's OpenBLAS libblas.so.3 is a thin library over
  // libopenblas.so.0).
  const LoadedLibrary blas(file);
  if (!blas) return true;  // cannot tell: no warning
  for (const char* marker : {"openblas_get_config", "MKL_Get_Version", "mkl_get_version",
                             "bli_info_get_version_str", "flexiblas_get_num_threads"})
    if (blas.symbol(marker)) return true;
  return false;
#else
  return true;
#endif
}

std::string slowBlasWarning(const std::string& file) {
  if (file.empty() || looksOptimisedBlas(file)) return {};
  return "VITFEAT: LibTorch's float32 matrix products on the CPU go to sgemm_ in " + file +
         ", which looks like the reference BLAS (no OpenBLAS, MKL, BLIS or FlexiBLAS in it): "
         "float32 on the CPU can be 10-20x slower than it should. On Debian install "
         "libopenblas0-openmp; with a LibTorch that carries its own BLAS, preload its "
         "libtorch_cpu.so (docs/models.md, 'Building against a CUDA LibTorch').";
}

void warnIfSlowBlasOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string provider = sgemmProvider();
    CPLDebug("VITFEAT", "sgemm_ comes from %s", provider.empty() ? "(none)" : provider.c_str());
    const std::string warning = slowBlasWarning(provider);
    if (!warning.empty()) CPLError(CE_Warning, CPLE_AppDefined, "%s", warning.c_str());
  });
}

}  // namespace vitfeat
