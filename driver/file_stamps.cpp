#include "driver/file_stamps.h"

#include <cpl_string.h>
#include <cpl_vsi.h>

namespace vitfeat {

std::string fileStamp(const std::string& path) {
  VSIStatBufL st;
  if (VSIStatL(path.c_str(), &st) != 0) return {};
  long long nanoseconds = 0;
#if defined(__linux__)
  nanoseconds = static_cast<long long>(st.st_mtim.tv_nsec);
#endif
  return CPLSPrintf("|%lld|%lld.%09lld", static_cast<long long>(st.st_size),
                    static_cast<long long>(st.st_mtime), nanoseconds);
}

std::string datasetFileStamps(GDALDataset* ds, const std::string& except) {
  std::string stamps;
  char** files = ds->GetFileList();
  for (char** f = files; f && *f; ++f)
    if (except != *f && !EQUAL(CPLGetExtension(*f), "xml"))
      stamps += std::string(*f) + fileStamp(*f) + "\n";
  CSLDestroy(files);
  return stamps;
}

}  // namespace vitfeat
