#include "driver/register.h"

#include "driver/c_boundary.h"
#include "driver/descriptor.h"
#include "driver/feature_options.h"
#include "driver/views/register_views.h"
#include "pixelfunctions/vrt_pixel_functions.h"

namespace vitfeat {

namespace {

int identifyVitfeat(GDALOpenInfo* info) {
  return guarded("VITFEAT", FALSE, [&] { return namesFeatureDataset(*info) ? TRUE : FALSE; });
}

}  // namespace

void registerDrivers(const VitfeatEntryPoints& vitfeat) {
  if (!GDAL_CHECK_VERSION("VITFEAT")) return;
  math::registerPixelFunctions();
  registerViewDrivers();
  if (GDALGetDriverByName("VITFEAT") != nullptr) return;
  auto* driver = new GDALDriver();
  driver->SetDescription("VITFEAT");
  driver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
  driver->SetMetadataItem(GDAL_DMD_LONGNAME, "Vision Transformer features (vitfeat)");
  driver->SetMetadataItem(GDAL_DMD_EXTENSION, "vitfeat");
  driver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, kVitfeatPrefix);
  driver->SetMetadataItem(GDAL_DMD_OPENOPTIONLIST, openOptionListXml().c_str());
  driver->SetMetadataItem(GDAL_DMD_CREATIONDATATYPES, "Float32");
  driver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "YES");
  driver->pfnIdentify = identifyVitfeat;
  driver->pfnOpen = vitfeat.open;
  driver->pfnCreateCopy = vitfeat.createCopy;
  GetGDALDriverManager()->RegisterDriver(driver);
}

}  // namespace vitfeat
