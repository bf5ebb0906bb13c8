// Which BLAS LibTorch's float32 products on the CPU end up in, and a warning
// when it is the reference BLAS.
//
// Why: LibTorch calls sgemm_ through the dynamic linker, so the first library
// in the process that defines it wins. Debian's LibTorch uses libblas.so.3,
// which is the unoptimised reference BLAS unless an optimised one such as
// OpenBLAS is installed as its alternative (10-20x slower). A LibTorch with
// its own BLAS inside (the PyTorch wheels' libtorch_cpu.so) is overridden
// the same way by a libblas.so.3 that the host application (GDAL, through
// libarmadillo) loaded before the plugin: measured on a 16-core Xeon, float32
// ViT-B/16 tiles ran more than 8x slower until libtorch_cpu.so was preloaded.
#pragma once

#include <string>

namespace vitfeat {

// The file of the library that defines sgemm_ for the process, or empty when
// no library does (or the platform cannot tell).
std::string sgemmProvider();

// Whether the loaded library `file` (or a library it depends on) is a known
// optimised BLAS: OpenBLAS, MKL, BLIS, FlexiBLAS, or LibTorch's own copy. A
// library that is none of them is taken for the reference BLAS.
bool looksOptimisedBlas(const std::string& file);

// The warning for provider `file` (empty when none is due).
std::string slowBlasWarning(const std::string& file);

// Raises slowBlasWarning(sgemmProvider()) as a CPLError warning, once per
// process. Called when a float32 model is loaded for the CPU.
void warnIfSlowBlasOnce();

}  // namespace vitfeat
