// A descriptor's files are its own: GDAL deletes a dataset's file list when a
// dataset is overwritten (gdal_translate onto an existing output) or deleted,
// so a descriptor must never list the raster it reads. Writing a .vitfeat and
// a .vitpca twice, and deleting them, leaves the source raster and the
// feature file intact.
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <gdal_utils.h>

#include <string>

#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

namespace {

bool exists(const std::string& path) {
  VSIStatBufL st;
  return VSIStatL(path.c_str(), &st) == 0;
}

// gdal_translate -of <driver> <source> <output> -oo ... as the command line does it.
void translate(const std::string& source, const std::string& output, const char* driver,
               const std::map<std::string, std::string>& options) {
  CPLStringList oo;
  for (const auto& [k, v] : options) oo.SetNameValue(k.c_str(), v.c_str());
  GDALDatasetH src = GDALOpenEx(source.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR, nullptr,
                                oo.List(), nullptr);
  REQUIRE(src);
  CPLStringList args;
  args.AddString("-of");
  args.AddString(driver);
  GDALTranslateOptions* opts = GDALTranslateOptionsNew(args.List(), nullptr);
  GDALDatasetH out = GDALTranslate(output.c_str(), src, opts, nullptr);
  GDALTranslateOptionsFree(opts);
  REQUIRE(out);
  GDALClose(out);
  GDALClose(src);
}

}  // namespace

TEST_CASE("overwriting or deleting a descriptor never deletes the raster it reads") {
  setupGdal();
  TempDir dir;
  const std::string model = writeTinyModel(dir.file("vit"), 64, 1, 32, 2);
  const std::string source = dir.file("scene.tif");
  writeRaster(source, 96, 80, 3, GDT_Byte,
              [](int x, int y, int b) { return (x + 2 * y + b) % 200; });
  const std::string features = dir.file("features.vitfeat");
  for (int round = 0; round < 2; ++round) {
    translate("VITFEAT:" + source, features, "VITFEAT", {{"MODEL", model}});
    REQUIRE(exists(source));
  }
  {
    auto ds = openDataset(features);
    REQUIRE(ds);
    const CPLStringList files(ds->GetFileList());
    CHECK(files.FindString(features.c_str()) >= 0);
    CHECK(files.FindString(source.c_str()) < 0);
    CHECK(std::string(ds->GetMetadataItem("SOURCE_IDENTITY", "VITFEAT")).find(source) == 0);
  }
  const std::string pca = dir.file("pca.vitpca");
  for (int round = 0; round < 2; ++round) {
    translate("VITPCA:" + features, pca, "VITPCA", {{"N_COMPONENTS", "2"}});
    REQUIRE(exists(features));
    REQUIRE(exists(source));
  }
  {
    auto ds = openDataset(pca);
    REQUIRE(ds);
    const CPLStringList files(ds->GetFileList());
    CHECK(files.FindString(pca.c_str()) >= 0);
    CHECK(files.FindString(features.c_str()) < 0);
    CHECK(files.FindString(source.c_str()) < 0);
  }
  GDALDriverH vitpca = GDALGetDriverByName("VITPCA");
  REQUIRE(GDALDeleteDataset(vitpca, pca.c_str()) == CE_None);
  CHECK_FALSE(exists(pca));
  GDALDriverH vitfeat = GDALGetDriverByName("VITFEAT");
  REQUIRE(GDALDeleteDataset(vitfeat, features.c_str()) == CE_None);
  CHECK_FALSE(exists(features));
  CHECK(exists(source));
}
