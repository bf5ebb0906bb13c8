// A descriptor's files are its own: GDAL deletes a dataset's file list when a
// dataset is overwritten (gdal_translate onto an existing output) or deleted,
// so a descriptor must never list the raster it reads. Writing a .vitfeat and
// a .vitpca twice, and deleting them, leaves the source raster and the
// feature file intact.
#include <cpl_json.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal_alg.h>
#include <gdal_priv.h>
#include <gdal_utils.h>

#include <string>
#include <vector>

#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

namespace {

// The "source" a descriptor file stores.
std::string storedSource(const std::string& descriptor) {
  CPLJSONDocument doc;
  REQUIRE(doc.Load(descriptor));
  return doc.GetRoot().GetString("source");
}

// Band 1's checksum of the dataset opened as `name` from the current folder.
int checksumOf(const std::string& name) {
  auto ds = openDataset(name);
  REQUIRE(ds);
  return GDALChecksumImage(ds->GetRasterBand(1), 0, 0, ds->GetRasterXSize(), ds->GetRasterYSize());
}

bool exists(const std::string& path) {
  VSIStatBufL st;
  return VSIStatL(path.c_str(), &st) == 0;
}

// gdal_translate -of <driver> <source> <output> -oo ... [more] as the command line does it.
void translate(const std::string& source, const std::string& output, const char* driver,
               const std::map<std::string, std::string>& options,
               const std::vector<std::string>& more = {}) {
  CPLStringList oo;
  for (const auto& [k, v] : options) oo.SetNameValue(k.c_str(), v.c_str());
  GDALDatasetH src = GDALOpenEx(source.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR, nullptr,
                                oo.List(), nullptr);
  REQUIRE(src);
  CPLStringList args;
  args.AddString("-of");
  args.AddString(driver);
  for (const std::string& a : more) args.AddString(a.c_str());
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

// A view over a VITFEAT: connection string keeps its raster's path inside
// that string; the descriptor must still open from any folder, as one over a
// plain file does (QGIS rarely runs in the folder a descriptor was made in).
TEST_CASE("a view descriptor over a VITFEAT: connection string opens from any folder") {
  setupGdal();
  TempDir dir;
  REQUIRE(VSIMkdir(dir.file("c2").c_str(), 0755) == 0);
  REQUIRE(VSIMkdir(dir.file("sub").c_str(), 0755) == 0);
  writeTinyModel(dir.file("c2/vit"), 64, 1, 32, 2);
  writeRaster(dir.file("c2/scene.tif"), 96, 80, 3, GDT_Byte,
              [](int x, int y, int b) { return (3 * x + y * b + x * y / 9) % 200; });
  {
    const InFolder in(dir.path());  // relative names, as typed in a shell there
    translate("VITPCA:VITFEAT:c2/scene.tif", "c2/chain.vitpca", "VITPCA", {{"MODEL", "c2/vit"}});
    translate("VITPCA:VITFEAT:c2/scene.tif", "sub/out.vitpca", "VITPCA", {{"MODEL", "c2/vit"}});
    translate("VITPCA:VITFEAT:c2/scene.tif", "sub/out.vrt", "VITPCA", {{"MODEL", "c2/vit"}},
              {"-co", "FORMAT=VRT"});
  }
  // Beside the descriptor: relative to it; elsewhere: absolute.
  CHECK(storedSource(dir.file("c2/chain.vitpca")) == "VITFEAT:scene.tif");
  CHECK(storedSource(dir.file("sub/out.vitpca")) == "VITFEAT:" + dir.file("c2/scene.tif"));
  std::vector<int> sums;
  {
    const InFolder in(dir.file("sub"));
    sums.push_back(checksumOf("../c2/chain.vitpca"));
    sums.push_back(checksumOf("out.vitpca"));
    sums.push_back(checksumOf("out.vrt"));
  }
  {
    const InFolder in("/");
    sums.push_back(checksumOf(dir.file("c2/chain.vitpca")));
  }
  // The same seeded fit of the same features each time.
  for (const int s : sums) CHECK(s == sums.front());

  // A descriptor written before: its connection string's file relative to
  // the folder it was written from, which still opens from there.
  {
    CPLJSONDocument doc;
    REQUIRE(doc.Load(dir.file("c2/chain.vitpca")));
    doc.GetRoot().Set("source", "VITFEAT:c2/scene.tif");
    REQUIRE(doc.Save(dir.file("c2/old.vitpca")));
    const InFolder in(dir.path());
    CHECK(checksumOf("c2/old.vitpca") == sums.front());
  }
}
