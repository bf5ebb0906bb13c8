#include "driver/register.h"

namespace vitfeat {
void registerDrivers() {
  // The VITFEAT driver registers here (issue 3).
}
}  // namespace vitfeat
