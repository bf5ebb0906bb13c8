// The engine module's one export (see engine_entry.h): VitfeatDataset's own
// open and copy, which the plugin forwards to.
#include "driver/plugin/engine_entry.h"

#include <type_traits>

extern "C" __attribute__((visibility("default"))) const vitfeat::VitfeatEntryPoints*
vitfeatEngineEntryPoints() {
  static const vitfeat::VitfeatEntryPoints direct = vitfeat::linkedEntryPoints();
  return &direct;
}

// Keeps the declared type and the export in step.
static_assert(std::is_same_v<decltype(&vitfeatEngineEntryPoints), vitfeat::EngineEntryFn>);
