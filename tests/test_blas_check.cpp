// The check that warns when LibTorch's float32 products on the CPU would run
// in the reference BLAS (driver/blas_check.h). The reference for each case is
// the file layout of Debian's BLAS alternatives, not the check's own markers.
#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "driver/blas_check.h"

namespace fs = std::filesystem;

namespace {

const std::string kDebianReference = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
const std::string kDebianOpenBlas = "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3";

}  // namespace

TEST_CASE("this process's sgemm_ is found, and classified as its file says") {
  // The tests link LibTorch, which needs sgemm_ from somewhere.
  const std::string provider = vitfeat::sgemmProvider();
  INFO("sgemm_ from " << provider);
  REQUIRE(!provider.empty());
  const std::string real = fs::canonical(provider).string();
  INFO("which is " << real);
  if (real.find("/openblas") != std::string::npos) {
    // tools/setup.sh installs libopenblas0-openmp: the case of every CI run.
    CHECK(vitfeat::looksOptimisedBlas(provider));
    CHECK(vitfeat::slowBlasWarning(provider).empty());
  } else if (real.rfind("/usr/lib/x86_64-linux-gnu/blas/", 0) == 0) {
    CHECK_FALSE(vitfeat::looksOptimisedBlas(provider));
  }
}

TEST_CASE("Debian's reference BLAS is recognised, OpenBLAS is not warned about") {
  if (!fs::exists(kDebianReference) || !fs::exists(kDebianOpenBlas)) {
    WARN("Debian's BLAS files are not installed here: nothing to check");
    return;
  }
  // Loaded privately: its sgemm_ does not take the place of the process's.
  void* const reference = dlopen(kDebianReference.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(reference);
  CHECK_FALSE(vitfeat::looksOptimisedBlas(kDebianReference));
  const std::string warning = vitfeat::slowBlasWarning(kDebianReference);
  CHECK(warning.find(kDebianReference) != std::string::npos);
  CHECK(warning.find("libopenblas0-openmp") != std::string::npos);
  dlclose(reference);

  void* const openblas = dlopen(kDebianOpenBlas.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(openblas);
  CHECK(vitfeat::looksOptimisedBlas(kDebianOpenBlas));
  CHECK(vitfeat::slowBlasWarning(kDebianOpenBlas).empty());
  dlclose(openblas);
}

TEST_CASE("a BLAS that cannot be inspected gives no warning") {
  CHECK(vitfeat::slowBlasWarning("").empty());
  // Not loaded in this process: nothing to look into, so no guess.
  CHECK(vitfeat::slowBlasWarning("/nonexistent/libblas.so.3").empty());
  // LibTorch's own copy (the PyTorch wheels' MKL inside libtorch_cpu.so).
  CHECK(vitfeat::looksOptimisedBlas("/opt/torch/lib/libtorch_cpu.so"));
}
