#include "driver/register.h"

#include <gdal_priv.h>

#include "driver/feature_options.h"
#include "driver/views/register_views.h"
#include "driver/vitfeat_dataset.h"
#include "pixelfunctions/vrt_pixel_functions.h"

namespace vitfeat {

void registerDrivers() {
  if (!GDAL_CHECK_VERSION("VITFEAT")) return;
  math::registerPixelFunctions();
  registerViewDrivers();
  if (GDALGetDriverByName("VITFEAT") != nullptr) return;
  auto* driver = new GDALDriver();
  driver->SetDescription("VITFEAT");
  driver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
  driver->SetMetadataItem(GDAL_DMD_LONGNAME, "Vision Transformer features (vitfeat)");
  driver->SetMetadataItem(GDAL_DMD_EXTENSION, "vitfeat");
  driver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, "VITFEAT:");
  driver->SetMetadataItem(GDAL_DMD_OPENOPTIONLIST, openOptionListXml().c_str());
  driver->SetMetadataItem(GDAL_DMD_CREATIONDATATYPES, "Float32");
  driver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "YES");
  driver->pfnIdentify = VitfeatDataset::Identify;
  driver->pfnOpen = VitfeatDataset::Open;
  driver->pfnCreateCopy = VitfeatDataset::CreateCopy;
  GetGDALDriverManager()->RegisterDriver(driver);
}

}  // namespace vitfeat
