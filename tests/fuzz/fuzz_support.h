// Shared by the libFuzzer harnesses: the input as a GDAL /vsimem/ file, GDAL's
// error output silenced, and the readers' contract checked. A reader may
// refuse any input, but only with a CPLError of class CE_Failure or worse; a
// refusal without one, an escaping exception, a crash or a sanitizer report
// is a finding.
#pragma once

#include <cpl_error.h>
#include <cpl_vsi.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace vitfeat::fuzz {

// Called once from LLVMFuzzerInitialize: errors are expected by the thousand.
// VITFEAT_FUZZ_VERBOSE=1 shows them, to see why one input is refused.
inline void quietGdal() {
  if (std::getenv("VITFEAT_FUZZ_VERBOSE") == nullptr) CPLSetErrorHandler(CPLQuietErrorHandler);
}

// The fuzzer's bytes as a read-only in-memory file for as long as it lives.
// GDAL does not copy them, so ASan still sees every read past their end.
class MemFile {
 public:
  MemFile(std::string path, const std::uint8_t* data, std::size_t size) : path_(std::move(path)) {
    VSILFILE* f = VSIFileFromMemBuffer(path_.c_str(), const_cast<GByte*>(data),
                                       static_cast<vsi_l_offset>(size), FALSE);
    if (f == nullptr) abortWith("cannot create " + path_);
    VSIFCloseL(f);
  }
  ~MemFile() { VSIUnlink(path_.c_str()); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::string& path() const { return path_; }

  [[noreturn]] static void abortWith(const std::string& what) {
    std::fprintf(stderr, "vitfeat fuzz: %s\n", what.c_str());
    std::abort();
  }

 private:
  std::string path_;
};

// Runs read() (which returns something testable as a bool: an optional) with
// the error state cleared, and aborts when it failed without a CPLError.
template <typename Read>
auto expectErrorOnFailure(const char* what, Read read) {
  CPLErrorReset();
  auto result = read();
  if (!result && CPLGetLastErrorType() < CE_Failure)
    MemFile::abortWith(std::string(what) + " failed without a CPLError");
  return result;
}

}  // namespace vitfeat::fuzz
