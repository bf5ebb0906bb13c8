// Where fitted view parameters live between opens: a process-wide table (QGIS
// opens one handle per render thread; each must not refit) and a folder of
// small JSON files shared by every process on the machine, so reopening the
// same view anywhere reuses the same fit instead of sampling again.
//
// The folder is VITFEAT_FIT_CACHE (config option or environment), by default
// $XDG_CACHE_HOME/vitfeat/fits or ~/.cache/vitfeat/fits; NO turns it off.
#pragma once

#include <optional>
#include <string>

namespace vitfeat {

// The key is hashed; the value is the fit as JSON text.
std::optional<std::string> findFit(const std::string& key);
void storeFit(const std::string& key, const std::string& json);

// The folder used, empty when disabled.
std::string fitCacheFolder();

}  // namespace vitfeat
