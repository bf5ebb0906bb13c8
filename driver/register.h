#pragma once

namespace vitfeat {
// Registers every vitfeat GDAL driver that is not registered yet.
void registerDrivers();
}  // namespace vitfeat
