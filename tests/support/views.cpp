#include "tests/support/views.h"

#include <cpl_string.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "tests/support/fixtures.h"

namespace vitfeat::test {

void writeFeatures(const std::string& path, int width, int height, int bands,
                   const std::function<double(int, int, int)>& value) {
  writeRaster(path, width, height, bands, GDT_Float32, value,
              {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"});
}

std::vector<double> metadataNumbers(GDALDataset* ds, const char* item, const char* domain) {
  std::vector<double> out;
  const char* v = ds->GetMetadataItem(item, domain);
  if (!v) return out;
  const CPLStringList parts(CSLTokenizeString2(v, ",", 0));
  for (int i = 0; i < parts.size(); ++i) out.push_back(CPLAtof(parts[i]));
  return out;
}

std::string gdal(const std::string& command, const std::string& fitCache) {
  int status = 0;
  const std::string out = runCommand(
      "GDAL_DRIVER_PATH=" VITFEAT_PLUGIN_DIR " VITFEAT_FIT_CACHE=" + fitCache + " " + command,
      &status);
  INFO(command << "\n" << out);
  REQUIRE(status == 0);
  return out;
}

void checkOpenFails(const std::string& name, const std::map<std::string, std::string>& options,
                    const std::string& message) {
  ExpectErrors quiet;
  DatasetPtr ds = openDataset(name, options);
  INFO(name << ": expected an error with \"" << message << "\", got \"" << CPLGetLastErrorMsg()
            << "\"");
  CHECK(!ds);
  CHECK(std::string(CPLGetLastErrorMsg()).find(message) != std::string::npos);
}

bool sameValues(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

std::vector<float> readFile(const std::string& path) {
  DatasetPtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR));
  REQUIRE(ds);
  return readAll(ds.get());
}

std::string writeVector(const std::string& path, int epsg,
                        const std::vector<std::pair<std::string, std::string>>& wktAndClass) {
  GDALDriver* gpkg = GetGDALDriverManager()->GetDriverByName("GPKG");
  REQUIRE(gpkg);
  DatasetPtr ds(gpkg->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  REQUIRE(ds);
  OGRSpatialReference srs;
  srs.importFromEPSG(epsg);
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  OGRLayer* layer = ds->CreateLayer("refs", &srs, wkbUnknown, nullptr);
  REQUIRE(layer);
  OGRFieldDefn field("class", OFTString);
  REQUIRE(layer->CreateField(&field) == OGRERR_NONE);
  for (const auto& [wkt, cls] : wktAndClass) {
    OGRFeature f(layer->GetLayerDefn());
    f.SetField("class", cls.c_str());
    OGRGeometry* g = nullptr;
    REQUIRE(OGRGeometryFactory::createFromWkt(wkt.c_str(), &srs, &g) == OGRERR_NONE);
    f.SetGeometryDirectly(g);
    REQUIRE(layer->CreateFeature(&f) == OGRERR_NONE);
  }
  return path;
}

}  // namespace vitfeat::test
