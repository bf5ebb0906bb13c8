// Creating folders the options name (CACHE_DIR, VITFEAT_FIT_CACHE, the
// weights-digest folder), with any missing parents.
#pragma once

#include <string>

namespace vitfeat {

// Creates `path` and every missing folder above it; true when `path` is a
// folder afterwards (also when it already was, or another process made it
// meanwhile). On false, errno says why the last creation failed.
//
// Why not VSIMkdirRecursive: GDAL 3.6's fails on a relative path without a
// leading "./" ("tiles", "cache/vit"), which is how users write CACHE_DIR=.
bool makeFolders(const std::string& path);

}  // namespace vitfeat
