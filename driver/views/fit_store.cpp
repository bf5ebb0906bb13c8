#include "driver/views/fit_store.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <unistd.h>

#include <map>
#include <mutex>

#include "driver/folders.h"
#include "models/sha256.h"

namespace vitfeat {

namespace {

std::mutex mutex;
std::map<std::string, std::string>& memory() {
  static std::map<std::string, std::string> fits;
  return fits;
}

std::string digest(const std::string& key) {
  Sha256 h;
  h.update(key.data(), key.size());
  return Sha256::hex(h.digest());
}

}  // namespace

std::string fitCacheFolder() {
  const char* configured = CPLGetConfigOption("VITFEAT_FIT_CACHE", nullptr);
  if (configured && (EQUAL(configured, "NO") || EQUAL(configured, "OFF") || !configured[0]))
    return {};
  if (configured) return configured;
  if (const char* xdg = CPLGetConfigOption("XDG_CACHE_HOME", nullptr); xdg && xdg[0])
    return CPLFormFilename(xdg, "vitfeat/fits", nullptr);
  if (const char* home = CPLGetConfigOption("HOME", nullptr); home && home[0])
    return CPLFormFilename(home, ".cache/vitfeat/fits", nullptr);
  return {};
}

std::optional<std::string> findFit(const std::string& key) {
  const std::string name = digest(key);
  {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto it = memory().find(name);
    if (it != memory().end()) return it->second;
  }
  const std::string folder = fitCacheFolder();
  if (folder.empty()) return std::nullopt;
  const std::string path = CPLFormFilename(folder.c_str(), name.c_str(), "json");
  VSIStatBufL st;
  if (VSIStatL(path.c_str(), &st) != 0) return std::nullopt;
  GByte* bytes = nullptr;
  vsi_l_offset size = 0;
  if (!VSIIngestFile(nullptr, path.c_str(), &bytes, &size, 64 << 20)) return std::nullopt;
  std::string json(reinterpret_cast<const char*>(bytes), static_cast<size_t>(size));
  VSIFree(bytes);
  const std::lock_guard<std::mutex> lock(mutex);
  memory()[name] = json;
  return json;
}

void storeFit(const std::string& key, const std::string& json) {
  const std::string name = digest(key);
  {
    const std::lock_guard<std::mutex> lock(mutex);
    memory()[name] = json;
  }
  const std::string folder = fitCacheFolder();
  if (folder.empty()) return;
  // A cache: failing to write it costs a refit later, nothing else.
  CPLPushErrorHandler(CPLQuietErrorHandler);
  makeFolders(folder);
  const std::string path = CPLFormFilename(folder.c_str(), name.c_str(), "json");
  // Written under a unique name and renamed, so a concurrent reader never sees half a file.
  const std::string tmp = path + CPLSPrintf(".%p.%lld.tmp", static_cast<const void*>(&json),
                                            static_cast<long long>(getpid()));
  if (VSILFILE* f = VSIFOpenL(tmp.c_str(), "wb")) {
    const bool ok = VSIFWriteL(json.data(), 1, json.size(), f) == json.size();
    if (VSIFCloseL(f) == 0 && ok)
      VSIRename(tmp.c_str(), path.c_str());
    else
      VSIUnlink(tmp.c_str());
  }
  CPLPopErrorHandler();
}

}  // namespace vitfeat
