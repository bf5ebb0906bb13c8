// Entry point GDAL looks up when it loads gdal_VITFEAT.so from GDAL_DRIVER_PATH.
// VITFEAT opens through the engine module, loaded on first use.
#include "driver/plugin/engine_loader.h"
#include "driver/register.h"

#define VITFEAT_EXPORT extern "C" __attribute__((visibility("default")))

VITFEAT_EXPORT void GDALRegisterMe() { vitfeat::registerDrivers(vitfeat::deferredEntryPoints()); }
VITFEAT_EXPORT void GDALRegister_VITFEAT() { GDALRegisterMe(); }
