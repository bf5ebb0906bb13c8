#include "driver/folders.h"

#include <cpl_conv.h>
#include <cpl_vsi.h>

#include <cerrno>

namespace vitfeat {

namespace {

bool isFolder(const std::string& path) {
  VSIStatBufL st;
  return VSIStatL(path.c_str(), &st) == 0 && VSI_ISDIR(st.st_mode);
}

}  // namespace

bool makeFolders(const std::string& path) {
  if (path.empty()) {
    errno = ENOENT;
    return false;
  }
  if (isFolder(path)) return true;
  const std::string parent = CPLGetPath(path.c_str());
  // A parent that cannot be made shows in the creation below; some virtual
  // file systems (/vsimem/) make a folder without its parents anyway.
  if (!parent.empty() && parent != path) makeFolders(parent);
  if (VSIMkdir(path.c_str(), 0755) == 0) return true;
  const int why = errno;
  if (isFolder(path)) return true;  // made by another process meanwhile
  errno = why;
  return false;
}

}  // namespace vitfeat
