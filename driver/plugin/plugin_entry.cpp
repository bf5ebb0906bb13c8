// Entry point GDAL looks up when it loads gdal_VITFEAT.so from GDAL_DRIVER_PATH.
#include "driver/register.h"

extern "C" void GDALRegisterMe() { vitfeat::registerDrivers(); }
extern "C" void GDALRegister_VITFEAT() { vitfeat::registerDrivers(); }
