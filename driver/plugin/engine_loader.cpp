#include "driver/plugin/engine_loader.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "driver/c_boundary.h"
#include "driver/descriptor.h"
#include "driver/plugin/engine_entry.h"

namespace vitfeat {

namespace {

struct Engine {
  const VitfeatEntryPoints* entry = nullptr;  // null when it could not be loaded
  std::string path;
  std::string error;
};

// The folder of this module's file: the engine is installed beside it. A
// link to the plugin (into GDAL's own plugin folder, say) is followed to the
// build or install folder that holds both files.
std::string pluginFolder() {
  Dl_info info{};
  static const int anchor = 0;
  if (dladdr(&anchor, &info) == 0 || info.dli_fname == nullptr) return ".";
  const std::unique_ptr<char, decltype(&std::free)> real(realpath(info.dli_fname, nullptr),
                                                         &std::free);
  return CPLGetPath(real ? real.get() : info.dli_fname);
}

Engine load() {
  Engine e;
  e.path = CPLFormFilename(pluginFolder().c_str(), VITFEAT_ENGINE_FILE, nullptr);
  // CPLGetSymbol dlopens the file (and LibTorch with it) and keeps it loaded.
  // Its own CPLError is caught here and reported with every failed open.
  CPLErrorReset();
  CPLPushErrorHandler(CPLQuietErrorHandler);
  void* symbol = CPLGetSymbol(e.path.c_str(), kEngineEntrySymbol);
  const std::string why = CPLGetLastErrorMsg();
  CPLPopErrorHandler();
  if (symbol == nullptr) {
    e.error = why.empty() ? std::string("no symbol ") + kEngineEntrySymbol : why;
    return e;
  }
  const auto* entry = reinterpret_cast<EngineEntryFn>(symbol)();
  if (entry == nullptr || entry->interfaceVersion != VitfeatEntryPoints::kInterfaceVersion) {
    e.error = "it was built from another vitfeat version than gdal_VITFEAT.so (interface " +
              std::to_string(entry ? entry->interfaceVersion : 0) + ", expected " +
              std::to_string(VitfeatEntryPoints::kInterfaceVersion) +
              "); install both from the same build";
    return e;
  }
  e.entry = entry;
  return e;
}

// Loaded once per process; a thread that opens a VITFEAT dataset meanwhile
// waits for the first load to finish (C++ static initialisation).
const VitfeatEntryPoints* engine() {
  static const Engine loaded = load();
  if (loaded.entry == nullptr) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "VITFEAT: cannot load the feature engine %s: %s. It is built and installed "
             "beside gdal_VITFEAT.so (cmake --build, cmake --install); the view drivers work "
             "without it.",
             loaded.path.c_str(), loaded.error.c_str());
  }
  return loaded.entry;
}

GDALDataset* openDeferred(GDALOpenInfo* info) {
  return guarded("VITFEAT", static_cast<GDALDataset*>(nullptr), [&]() -> GDALDataset* {
    // GDAL 3.6 offers every file to every driver's Open, Identify or not: only
    // a VITFEAT name may load the engine.
    if (!namesFeatureDataset(*info)) return nullptr;
    const auto* e = engine();
    return e ? e->open(info) : nullptr;
  });
}

GDALDataset* createCopyDeferred(const char* name, GDALDataset* src, int strict, char** options,
                                GDALProgressFunc progress, void* data) {
  return guarded("VITFEAT", static_cast<GDALDataset*>(nullptr), [&]() -> GDALDataset* {
    const auto* e = engine();
    return e ? e->createCopy(name, src, strict, options, progress, data) : nullptr;
  });
}

}  // namespace

VitfeatEntryPoints deferredEntryPoints() {
  VitfeatEntryPoints deferred;
  deferred.open = openDeferred;
  deferred.createCopy = createCopyDeferred;
  return deferred;
}

}  // namespace vitfeat
