// The plugin's way to the engine module (vitfeat_engine.so, beside the plugin):
// GDAL loads gdal_VITFEAT.so in every process that registers its plugins, but
// only a process that opens a VITFEAT dataset needs LibTorch. The entry points
// returned here load the engine the first time they are called.
#pragma once

#include "driver/register.h"

namespace vitfeat {

// open and createCopy that load the engine on first use and forward to it.
// When it cannot be loaded they fail with a CPLError that names the file and
// why (every call, not only the first).
VitfeatEntryPoints deferredEntryPoints();

}  // namespace vitfeat
