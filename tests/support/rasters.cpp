#include "tests/support/rasters.h"

#include <cpl_string.h>
#include <ogr_spatialref.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "driver/register.h"
#include "models/model_folder.h"

namespace vitfeat::test {

void setupGdal() {
  registerDrivers();
  GDALAllRegister();
}

void writeRaster(const std::string& path, int width, int height, int bands, GDALDataType type,
                 const std::function<double(int, int, int)>& value,
                 const std::vector<std::string>& creationOptions) {
  GDALAllRegister();
  GDALDriver* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
  CPLStringList co;
  for (const std::string& o : creationOptions) co.AddString(o.c_str());
  DatasetPtr ds(gtiff->Create(path.c_str(), width, height, bands, type, co.List()));
  if (!ds) throw std::runtime_error("cannot create " + path);
  double gt[6] = {500000, 10, 0, 5200000, 0, -10};
  ds->SetGeoTransform(gt);
  OGRSpatialReference srs;
  srs.importFromEPSG(32633);
  ds->SetSpatialRef(&srs);
  std::vector<double> row(width);
  for (int b = 0; b < bands; ++b)
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) row[x] = value(x, y, b);
      if (ds->GetRasterBand(b + 1)->RasterIO(GF_Write, 0, y, width, 1, row.data(), width, 1,
                                             GDT_Float64, 0, 0, nullptr) != CE_None)
        throw std::runtime_error("cannot write " + path);
    }
}

std::string writeTinyModel(const std::string& dir, int inputSize, int depth, int dim,
                           unsigned seed) {
  auto config = vitConfigFromArchitecture("vit_tiny_patch16_224");
  if (!config) throw std::runtime_error("no config");
  config->depth = depth;
  config->embed_dim = dim;
  config->num_heads = 2;
  config->mlp_hidden = 2 * dim;
  config->input_height = config->input_width = inputSize;
  if (!writeModelFolder(dir, *config, randomViTWeights(*config, seed)))
    throw std::runtime_error("cannot write model to " + dir);
  return dir;
}

DatasetPtr openFeatures(const std::string& source,
                        const std::map<std::string, std::string>& options) {
  GDALAllRegister();
  registerDrivers();
  CPLStringList oo;
  for (const auto& [k, v] : options) oo.SetNameValue(k.c_str(), v.c_str());
  const std::string name = "VITFEAT:" + source;
  return DatasetPtr(GDALDataset::Open(name.c_str(), GDAL_OF_RASTER, nullptr, oo.List()));
}

DatasetPtr openDataset(const std::string& name, const std::map<std::string, std::string>& options) {
  setupGdal();
  CPLStringList oo;
  for (const auto& [k, v] : options) oo.SetNameValue(k.c_str(), v.c_str());
  return DatasetPtr(
      GDALDataset::Open(name.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR, nullptr, oo.List()));
}

std::vector<float> readWindow(GDALDataset* ds, int x0, int y0, int w, int h) {
  const int bands = ds->GetRasterCount();
  std::vector<float> out(static_cast<size_t>(bands) * w * h);
  if (ds->RasterIO(GF_Read, x0, y0, w, h, out.data(), w, h, GDT_Float32, bands, nullptr, 0, 0, 0,
                   nullptr) != CE_None)
    throw std::runtime_error(std::string("read failed: ") + CPLGetLastErrorMsg());
  return out;
}

std::string readFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void writeFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f.good()) throw std::runtime_error("cannot write " + path);
}

void damageTiffBlock(const std::string& path, int bx, int by) {
  GUIntBig offset = 0, size = 0;
  {
    DatasetPtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
    if (!ds) throw std::runtime_error("cannot open " + path);
    GDALRasterBand* band = ds->GetRasterBand(1);
    const char* o = band->GetMetadataItem(CPLSPrintf("BLOCK_OFFSET_%d_%d", bx, by), "TIFF");
    const char* n = band->GetMetadataItem(CPLSPrintf("BLOCK_SIZE_%d_%d", bx, by), "TIFF");
    if (o) offset = CPLScanUIntBig(o, 32);
    if (n) size = CPLScanUIntBig(n, 32);
  }
  if (size == 0) throw std::runtime_error(path + " has no such TIFF block");
  std::string bytes = readFileBytes(path);
  for (GUIntBig i = 0; i < size; ++i) bytes[offset + i] = static_cast<char>(0xa5 ^ i);
  writeFileBytes(path, bytes);
}

std::string runCommand(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + command);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  if (status) *status = WEXITSTATUS(rc);
  return out;
}

}  // namespace vitfeat::test
