// registerDrivers() for a process that links the engine: VITFEAT opens
// directly, with no module to load.
#include "driver/register.h"
#include "driver/vitfeat_dataset.h"

namespace vitfeat {

VitfeatEntryPoints linkedEntryPoints() {
  VitfeatEntryPoints direct;
  direct.open = VitfeatDataset::Open;
  direct.createCopy = VitfeatDataset::CreateCopy;
  return direct;
}

void registerDrivers() { registerDrivers(linkedEntryPoints()); }

}  // namespace vitfeat
