// Views over VITFEAT are lazy: the fit computes only the tiles under the
// sampled blocks, and one block of a cluster view over a PCA view over a
// VITFEAT dataset of a large raster computes only the tiles under that block.
// The counters are VITFEAT's, forwarded through each view's metadata. A
// classifier's fit computes only the tiles under its training points; UMAP and
// HDBSCAN fit on the same seeded block sample as PCA.
#include <cpl_conv.h>
#include <ogrsf_frmts.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "driver/descriptor.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat;
using namespace vitfeat::test;

namespace {

long counter(GDALDataset* ds, const char* name, const char* domain) {
  const char* v = ds->GetMetadataItem(name, domain);
  REQUIRE(v);
  return std::atol(v);
}

}  // namespace

TEST_CASE("Chained views compute only the feature tiles they need", "[views][lazy]") {
  TempDir tmp;
  // 2048 x 2048 pixels, 64-pixel tiles of a 4 x 4-patch model: 32 x 32 = 1024
  // tiles, 128 x 128 cells, one tile per 4 x 4-cell block.
  const std::string raster = tmp.file("big.tif");
  writeRaster(raster, 2048, 2048, 3, GDT_Byte,
              [](int x, int y, int b) {
                return (x * (b + 1) / 7 + y / 5 + ((x / 64 + y / 64) % 4) * 40) % 256;
              },
              {"TILED=YES"});
  const std::string model = writeTinyModel(tmp.file("model"), 64, 1, 32);
  const std::string features = tmp.file("features.vitfeat");
  REQUIRE(writeDescriptor(features, {raster, {{"MODEL", model}, {"NORMALIZE", "model"}}}));

  DatasetPtr pca = openDataset("VITPCA:" + features, {{"SAMPLE", "200"}, {"SEED", "1"}});
  REQUIRE(pca);
  CHECK(pca->GetRasterXSize() == 128);
  // 200 cells need 13 blocks of 16 cells; at one tile per block, 13 tiles.
  const long blocks = counter(pca.get(), "FIT_BLOCKS_READ", "VITPCA");
  CHECK(blocks == 13);
  CHECK(counter(pca.get(), "TILES_COMPUTED", "VITPCA") +
            counter(pca.get(), "TILES_REUSED", "VITPCA") ==
        blocks);
  // UMAP and HDBSCAN fit on the same kind of seeded block sample: 200 cells
  // with seed 1 are the same 13 blocks, and a block read is one more tile.
  for (const auto& [driver, options] :
       std::vector<std::pair<std::string, std::map<std::string, std::string>>>{
           {"VITUMAP", {{"SAMPLE", "200"}, {"SEED", "1"}, {"N_EPOCHS", "50"}}},
           {"VITCLUSTER",
            {{"METHOD", "hdbscan"},
             {"SAMPLE", "200"},
             {"SEED", "1"},
             {"MIN_CLUSTER_SIZE", "10"}}}}) {
    DatasetPtr view = openDataset(driver + ":" + features, options);
    REQUIRE(view);
    CHECK(counter(view.get(), "FIT_BLOCKS_READ", driver.c_str()) == 13);
    const long fitted = counter(view.get(), "TILES_COMPUTED", driver.c_str()) +
                        counter(view.get(), "TILES_REUSED", driver.c_str());
    std::vector<float> block(16 * view->GetRasterCount());
    REQUIRE(view->RasterIO(GF_Read, 100, 8, 4, 4, block.data(), 4, 4, GDT_Float32, 0, nullptr, 0, 0,
                           0, nullptr) == CE_None);
    CHECK(counter(view.get(), "TILES_COMPUTED", driver.c_str()) +
              counter(view.get(), "TILES_REUSED", driver.c_str()) - fitted ==
          1);
  }

  const std::string pcaDesc = tmp.file("pca.vitpca");
  DatasetPtr copy(GetGDALDriverManager()->GetDriverByName("VITPCA")->CreateCopy(
      pcaDesc.c_str(), pca.get(), FALSE, nullptr, nullptr, nullptr));
  REQUIRE(copy);
  copy.reset();

  // Cluster the PCA view (opened from its descriptor: no PCA refit).
  DatasetPtr clusters =
      openDataset("VITCLUSTER:" + pcaDesc, {{"N_CLUSTERS", "3"}, {"SAMPLE", "100"}, {"SEED", "2"}});
  REQUIRE(clusters);
  const long fitTiles = counter(clusters.get(), "TILES_COMPUTED", "VITCLUSTER") +
                        counter(clusters.get(), "TILES_REUSED", "VITCLUSTER");
  CHECK(counter(clusters.get(), "FIT_BLOCKS_READ", "VITCLUSTER") == 7);
  CHECK(fitTiles == 7);
  int bx = 0, by = 0;
  clusters->GetRasterBand(1)->GetBlockSize(&bx, &by);
  CHECK(bx == 4);
  CHECK(by == 4);

  // One block far from the sampled ones: exactly one more tile.
  const long before = counter(clusters.get(), "TILES_COMPUTED", "VITCLUSTER");
  const long reusedBefore = counter(clusters.get(), "TILES_REUSED", "VITCLUSTER");
  GByte block[16];
  REQUIRE(clusters->GetRasterBand(1)->ReadBlock(17, 23, block) == CE_None);
  const long after = counter(clusters.get(), "TILES_COMPUTED", "VITCLUSTER");
  const long reusedAfter = counter(clusters.get(), "TILES_REUSED", "VITCLUSTER");
  CHECK((after - before) + (reusedAfter - reusedBefore) == 1);
  for (const GByte label : block) CHECK(label < 3);

  // A 3 x 2-block window read at once: six tiles, one model pass per tile.
  std::vector<GByte> window(12 * 8);
  REQUIRE(clusters->RasterIO(GF_Read, 40, 80, 12, 8, window.data(), 12, 8, GDT_Byte, 1, nullptr, 0,
                             0, 0, nullptr) == CE_None);
  CHECK(counter(clusters.get(), "TILES_COMPUTED", "VITCLUSTER") +
            counter(clusters.get(), "TILES_REUSED", "VITCLUSTER") - after - reusedAfter ==
        6);
}

TEST_CASE("A classifier over VITFEAT computes only the tiles under its training points and blocks",
          "[views][lazy]") {
  TempDir tmp;
  const std::string raster = tmp.file("big.tif");
  writeRaster(raster, 2048, 2048, 3, GDT_Byte,
              [](int x, int y, int b) { return (x * (b + 1) / 7 + y / 5 + (x / 256) * 60) % 256; },
              {"TILED=YES"});
  const std::string model = writeTinyModel(tmp.file("model"), 64, 1, 32);
  const std::string features = tmp.file("features.vitfeat");
  REQUIRE(writeDescriptor(features, {raster, {{"MODEL", model}, {"NORMALIZE", "model"}}}));

  // Eight points in pixel coordinates (no CRS), four per class, in four
  // distinct 64-pixel tiles per class: eight tiles under the points.
  const std::string training = tmp.file("training.gpkg");
  {
    GDALDriver* gpkg = GetGDALDriverManager()->GetDriverByName("GPKG");
    REQUIRE(gpkg);
    DatasetPtr ds(gpkg->Create(training.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    REQUIRE(ds);
    OGRSpatialReference utm;
    utm.importFromEPSG(32633);
    OGRLayer* layer = ds->CreateLayer("points", &utm, wkbPoint, nullptr);
    OGRFieldDefn field("cover", OFTString);
    REQUIRE(layer->CreateField(&field) == OGRERR_NONE);
    for (int i = 0; i < 8; ++i) {
      OGRFeature f(layer->GetLayerDefn());
      f.SetField("cover", i < 4 ? "left" : "right");
      // Pixel (px, py) in the raster's map coordinates (writeRaster's grid).
      const double px = (i < 4 ? 10 : 1500) + 64 * (i % 4) + 0.5, py = 100.5 + 64 * (i % 4);
      OGRPoint p(500000 + 10 * px, 5200000 - 10 * py);
      f.SetGeometry(&p);
      REQUIRE(layer->CreateFeature(&f) == OGRERR_NONE);
    }
  }
  DatasetPtr classes = openDataset("VITCLASSIFY:" + features, {{"TRAINING", training},
                                                               {"FIELD", "cover"},
                                                               {"METHOD", "knn"},
                                                               {"K", "1"},
                                                               {"TEST_FRACTION", "0"}});
  REQUIRE(classes);
  CHECK(counter(classes.get(), "TILES_COMPUTED", "VITCLASSIFY") +
            counter(classes.get(), "TILES_REUSED", "VITCLASSIFY") ==
        8);
  CHECK(std::string(classes->GetMetadataItem("TRAIN_SAMPLES", "VITCLASSIFY")) == "8");
  const long before = counter(classes.get(), "TILES_COMPUTED", "VITCLASSIFY") +
                      counter(classes.get(), "TILES_REUSED", "VITCLASSIFY");
  GByte block[16];
  REQUIRE(classes->GetRasterBand(1)->ReadBlock(20, 9, block) == CE_None);
  CHECK(counter(classes.get(), "TILES_COMPUTED", "VITCLASSIFY") +
            counter(classes.get(), "TILES_REUSED", "VITCLASSIFY") - before ==
        1);
  for (const GByte label : block) CHECK(label < 2);
}
