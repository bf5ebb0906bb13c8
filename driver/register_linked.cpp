// registerDrivers() for a process that links the engine: VITFEAT opens
// directly, with no module to load.
#include "driver/register.h"
#include "driver/vitfeat_dataset.h"

namespace vitfeat {

void registerDrivers() {
  VitfeatEntryPoints direct;
  direct.open = VitfeatDataset::Open;
  direct.createCopy = VitfeatDataset::CreateCopy;
  registerDrivers(direct);
}

}  // namespace vitfeat
