// What identifies the contents of files for cache keys without reading them:
// size and modification time, as VITFEAT's tile keys, the views' fit keys and
// the vector identities of VITSIM / VITCLASSIFY use them.
#pragma once

#include <gdal_priv.h>

#include <string>

namespace vitfeat {

// "|size|mtime" of a file ("" when it cannot be read), the modification time
// to the nanosecond where the system keeps it: a file rewritten within the
// same second at the same size is another input.
std::string fileStamp(const std::string& path);

// "file|size|mtime\n" for every file ds reads (GetFileList) but `except` and
// PAM's .aux.xml, which GDAL and QGIS rewrite whenever they save statistics
// or histograms and which holds nothing the pixels depend on.
std::string datasetFileStamps(GDALDataset* ds, const std::string& except = "");

}  // namespace vitfeat
