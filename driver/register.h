// Registration of the vitfeat GDAL drivers: VITFEAT, the view drivers
// (views/) and the VRT pixel functions.
#pragma once

#include <gdal_priv.h>

namespace vitfeat {

// How VITFEAT datasets are opened and copied. A process that links the engine
// (tests, tools) passes VitfeatDataset's own functions; the plugin passes
// functions that load the engine module on first use, so that a GDAL process
// which never opens a VITFEAT dataset does not load LibTorch.
struct VitfeatEntryPoints {
  // Raised whenever this struct or the engine module's entry changes, so a
  // plugin and an engine from different builds refuse each other.
  static constexpr int kInterfaceVersion = 1;
  int interfaceVersion = kInterfaceVersion;
  GDALDataset* (*open)(GDALOpenInfo*) = nullptr;
  GDALDataset* (*createCopy)(const char*, GDALDataset*, int, char**, GDALProgressFunc,
                             void*) = nullptr;
};

// Registers every vitfeat GDAL driver that is not registered yet, VITFEAT
// opening and copying through `vitfeat`.
void registerDrivers(const VitfeatEntryPoints& vitfeat);

// VitfeatDataset's own open and copy (register_linked.cpp): for a process that
// links the engine, and for the engine module's export.
VitfeatEntryPoints linkedEntryPoints();

// registerDrivers(linkedEntryPoints()).
void registerDrivers();

}  // namespace vitfeat
