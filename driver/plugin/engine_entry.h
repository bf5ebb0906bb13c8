// What the engine module (vitfeat_engine.so) exports to the plugin: one C
// function returning VITFEAT's entry points.
#pragma once

#include "driver/register.h"

namespace vitfeat {

inline constexpr const char* kEngineEntrySymbol = "vitfeatEngineEntryPoints";
using EngineEntryFn = const VitfeatEntryPoints* (*)();

}  // namespace vitfeat
