// The persistent tile cache (CACHE_DIR):
// - a tile saved by one store is loaded, bit for bit, by another (as another
//   process would);
// - a file that does not check out (flipped byte, truncated, another key, a
//   leftover temporary of a killed writer) is never served;
// - a folder that cannot be written warns once and reads go on; missing
//   folders are made, also from a relative CACHE_DIR;
// - weights digests are remembered on disk, and a hub blob's name is its digest;
// - through the driver: a second open (memory cache off) computes nothing and
//   returns the same bits; a corrupt entry is recomputed and rewritten; a
//   read-only folder still gives correct features.
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "driver/folders.h"
#include "driver/shared_resources.h"
#include "driver/tile_store.h"
#include "models/sha256.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat;
using namespace vitfeat::test;

namespace {

TileFeatures sampleTile(int g, int d, float offset) {
  TileFeatures t(g, d);
  for (size_t i = 0; i < t.grid.size(); ++i) t.grid[i] = std::sin(static_cast<float>(i)) + offset;
  t.valid.assign(static_cast<size_t>(g) * g, 1);
  t.valid[3] = 0;
  return t;
}

std::vector<char> readBytes(const std::string& path) {
  std::vector<char> bytes;
  VSILFILE* f = VSIFOpenL(path.c_str(), "rb");
  REQUIRE(f);
  VSIFSeekL(f, 0, SEEK_END);
  bytes.resize(static_cast<size_t>(VSIFTellL(f)));
  VSIFSeekL(f, 0, SEEK_SET);
  REQUIRE(VSIFReadL(bytes.data(), 1, bytes.size(), f) == bytes.size());
  VSIFCloseL(f);
  return bytes;
}

void writeBytes(const std::string& path, const std::vector<char>& bytes) {
  VSILFILE* f = VSIFOpenL(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(VSIFWriteL(bytes.data(), 1, bytes.size(), f) == bytes.size());
  VSIFCloseL(f);
}

unsigned long long counter(GDALDataset* ds, const char* name) {
  const char* v = ds->GetMetadataItem(name, "VITFEAT");
  REQUIRE(v);
  return std::strtoull(v, nullptr, 10);
}

// A tiny model and a 200 x 150 raster (6 x 4 tiles of 64 px at STRIDE 32),
// with a cache folder beside them: what the driver-level tests below read.
struct DriverScene {
  TempDir dir;
  std::string model, source = dir.file("source.tif"), cacheDir = dir.file("tiles");
  DriverScene() {
    setupGdal();
    model = writeTinyModel(dir.file("vit"), 64, 1, 32, 5);
    writeRaster(source, 200, 150, 3, GDT_Byte,
                [](int x, int y, int b) { return (x * 3 + y * 5 + b * 40) % 256; });
  }
};

}  // namespace

TEST_CASE("a saved tile is loaded bit for bit by another store") {
  TempDir dir;
  const std::string folder = dir.file("cache");
  const TileKey key{"source|model|options", 3, 5};
  const TileFeatures tile = sampleTile(4, 7, 0.5f);
  {
    auto writer = TileStore::open(folder);
    REQUIRE(writer);
    REQUIRE(writer->save(key, tile));
    CHECK(writer->saved() == 1);
  }
  auto reader = TileStore::open(folder);
  REQUIRE(reader);
  const TilePtr got = reader->load(key);
  REQUIRE(got);
  CHECK(got->g == 4);
  CHECK(got->features == 7);
  CHECK(std::memcmp(got->grid.data(), tile.grid.data(), tile.grid.size() * sizeof(float)) == 0);
  CHECK(got->valid == tile.valid);
  CHECK(reader->loaded() == 1);
  // Other positions and other configurations are other tiles.
  CHECK_FALSE(reader->load({key.config, 5, 3}));
  CHECK_FALSE(reader->load({key.config + "x", 3, 5}));
}

TEST_CASE("a cache file that does not check out is never served") {
  TempDir dir;
  auto store = TileStore::open(dir.file("cache"));
  REQUIRE(store);
  const TileKey key{"config", 0, 0};
  REQUIRE(store->save(key, sampleTile(4, 16, 0)));
  const std::string path = store->pathOf(key);
  const std::vector<char> good = readBytes(path);

  SECTION("a flipped payload byte") {
    std::vector<char> bad = good;
    bad[bad.size() - 40] ^= 0x10;
    writeBytes(path, bad);
  }
  SECTION("truncated") {
    writeBytes(path, std::vector<char>(good.begin(), good.begin() + good.size() / 2));
  }
  SECTION("a flipped bit in the stored checksum") {
    std::vector<char> bad = good;
    bad[24] ^= 0x01;  // after the magic and four sizes
    writeBytes(path, bad);
  }
  SECTION("a file of the first format (SHA-256, magic VITTILE1)") {
    std::vector<char> old = good;
    old[7] = '1';
    writeBytes(path, old);
  }
  SECTION("trailing bytes") {
    std::vector<char> bad = good;
    bad.push_back(0);
    writeBytes(path, bad);
  }
  SECTION("another tile's file under this name") {
    auto other = TileStore::open(dir.file("other"));
    REQUIRE(other->save({"config", 1, 0}, sampleTile(4, 16, 0)));
    writeBytes(path, readBytes(other->pathOf({"config", 1, 0})));
  }
  SECTION("only a killed writer's temporary file") {
    // A writer killed before its rename leaves path.tmp<pid>.<n>, never path.
    writeBytes(path + ".tmp99999.0", std::vector<char>(good.begin(), good.begin() + 100));
    VSIUnlink(path.c_str());
  }
  CHECK_FALSE(store->load(key));
  // Saving again replaces the entry whole.
  REQUIRE(store->save(key, sampleTile(4, 16, 0)));
  CHECK(store->load(key));
}

TEST_CASE("a read-only cache folder warns once and reads go on") {
  TempDir dir;
  const std::string folder = dir.file("cache");
  auto writer = TileStore::open(folder);
  REQUIRE(writer);
  const TileKey stored{"config", 0, 0};
  REQUIRE(writer->save(stored, sampleTile(4, 8, 1)));
  // Every subfolder a new tile could need is blocked by a plain file (works
  // for root too, unlike permissions).
  for (int i = 0; i < 256; ++i) {
    const std::string sub = folder + "/" + CPLSPrintf("%02x", i);
    VSIStatBufL st;
    if (VSIStatL(sub.c_str(), &st) != 0) writeBytes(sub, {'x'});
  }
  std::string dirOf = CPLGetPath(writer->pathOf(stored).c_str());
  auto store = TileStore::open(folder);
  REQUIRE(store);
  Warnings warnings;
  int refused = 0;
  for (int i = 1; i <= 20; ++i) {
    const TileKey key{"config", i, 0};
    if (CPLGetPath(store->pathOf(key).c_str()) == dirOf) continue;  // that folder exists
    if (!store->save(key, sampleTile(4, 8, 1))) ++refused;
  }
  CHECK(refused > 0);
  CHECK(warnings.count() == 1);
  CHECK(warnings.messages().find("cannot be written") != std::string::npos);
  CHECK(store->load(stored));
}

// A full disk, simulated by a file size limit (RLIMIT_FSIZE, with SIGXFSZ
// ignored, so writes past it fail with EFBIG as on a full file system): reads
// go on with one warning, and no entry or temporary file is left behind.
TEST_CASE("a full cache disk warns once and reads go on") {
  const DriverScene scene;
  const std::string &model = scene.model, &source = scene.source, &cacheDir = scene.cacheDir;
  std::map<std::string, std::string> options{
      {"MODEL", model}, {"CACHE_MB", "0"}, {"STRIDE", "32"}, {"OVERVIEWS", "NONE"}};
  std::vector<float> reference;
  {
    auto ds = openFeatures(source, options);
    REQUIRE(ds);
    reference = readAll(ds.get());
  }
  options["CACHE_DIR"] = cacheDir;
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 512;  // a tile entry is some 2 KB
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::vector<float> got;
  size_t warnings = 0;
  std::string messages;
  unsigned long long computed = 0;
  {
    Warnings collected;
    auto ds = openFeatures(source, options);
    if (ds) {
      got = readAll(ds.get());
      computed = counter(ds.get(), "TILES_COMPUTED");
    }
    warnings = collected.count();
    messages = collected.messages();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, oldHandler);
  INFO(messages);
  CHECK(computed == 6 * 4);
  CHECK(sameValues(got, reference));
  CHECK(warnings == 1);
  CHECK(messages.find("cannot be written") != std::string::npos);
  CHECK(messages.find("File too large") != std::string::npos);
  size_t files = 0;
  char** subs = VSIReadDir(cacheDir.c_str());
  for (char** sub = subs; sub && *sub; ++sub) {
    if ((*sub)[0] == '.') continue;
    char** names = VSIReadDir((cacheDir + "/" + *sub).c_str());
    for (char** n = names; n && *n; ++n) files += (*n)[0] != '.';
    CSLDestroy(names);
  }
  CSLDestroy(subs);
  CHECK(files == 0);
}

TEST_CASE("the driver reuses tiles from CACHE_DIR across opens and recomputes corrupt ones") {
  const DriverScene scene;
  const std::string &model = scene.model, &source = scene.source, &cacheDir = scene.cacheDir;
  const std::map<std::string, std::string> options{{"MODEL", model},
                                                   {"CACHE_DIR", cacheDir},
                                                   {"CACHE_MB", "0"},
                                                   {"STRIDE", "32"},
                                                   {"OVERVIEWS", "NONE"}};

  std::vector<float> first;
  unsigned long long tiles = 0;
  {
    auto ds = openFeatures(source, options);
    REQUIRE(ds);
    first = readAll(ds.get());
    tiles = counter(ds.get(), "TILES_COMPUTED");
    CHECK(tiles == 6 * 4);  // 200 x 150 at stride 32, tile 64: 6 x 4 tiles (edges padded)
    CHECK(counter(ds.get(), "TILES_FROM_DISK") == 0);
  }
  {
    auto ds = openFeatures(source, options);
    REQUIRE(ds);
    const std::vector<float> second = readAll(ds.get());
    CHECK(counter(ds.get(), "TILES_COMPUTED") == 0);
    CHECK(counter(ds.get(), "TILES_FROM_DISK") == tiles);
    CHECK(sameValues(first, second));
  }
  // Corrupt every stored tile file: all are recomputed, the result is the same.
  int corrupted = 0;
  char** subs = VSIReadDir(cacheDir.c_str());
  for (char** s = subs; s && *s; ++s) {
    if ((*s)[0] == '.') continue;
    const std::string sub = cacheDir + "/" + *s;
    char** files = VSIReadDir(sub.c_str());
    for (char** f = files; f && *f; ++f) {
      // Tiles only: the input's estimated statistics (.vstats) are kept here too.
      if ((*f)[0] == '.' || !EQUAL(CPLGetExtension(*f), "vtile")) continue;
      const std::string path = sub + "/" + *f;
      std::vector<char> bytes = readBytes(path);
      bytes[bytes.size() / 2] ^= 0x01;
      writeBytes(path, bytes);
      ++corrupted;
    }
    CSLDestroy(files);
  }
  CSLDestroy(subs);
  CHECK(corrupted == static_cast<int>(tiles));
  {
    auto ds = openFeatures(source, options);
    REQUIRE(ds);
    CHECK(sameValues(first, readAll(ds.get())));
    CHECK(counter(ds.get(), "TILES_COMPUTED") == tiles);
    CHECK(counter(ds.get(), "TILES_FROM_DISK") == 0);
  }
  {
    auto ds = openFeatures(source, options);  // rewritten whole
    REQUIRE(ds);
    CHECK(sameValues(first, readAll(ds.get())));
    CHECK(counter(ds.get(), "TILES_FROM_DISK") == tiles);
  }
  // Another dtype or another model is another key: nothing is reused.
  {
    std::map<std::string, std::string> other = options;
    other["MODEL"] = writeTinyModel(scene.dir.file("vit2"), 64, 1, 32, 6);
    auto ds = openFeatures(source, other);
    REQUIRE(ds);
    readAll(ds.get());
    CHECK(counter(ds.get(), "TILES_FROM_DISK") == 0);
  }
}

TEST_CASE("makeFolders makes relative, absolute and in-memory folders with their parents") {
  TempDir dir;
  const auto isFolder = [](const std::string& path) {
    VSIStatBufL st;
    return VSIStatL(path.c_str(), &st) == 0 && VSI_ISDIR(st.st_mode);
  };
  {
    const InFolder in(dir.path());
    CHECK(makeFolders("a/b/c"));
    CHECK(makeFolders("a/b/c/"));  // already there
  }
  CHECK(isFolder(dir.file("a/b/c")));
  CHECK(makeFolders(dir.file("x/y")));
  CHECK(isFolder(dir.file("x/y")));
  CHECK(makeFolders("/vsimem/vitfeat_folders/p/q"));
  CHECK(isFolder("/vsimem/vitfeat_folders/p/q"));
  VSIRmdirRecursive("/vsimem/vitfeat_folders");
  writeBytes(dir.file("plain"), {'x'});
  CHECK_FALSE(makeFolders(dir.file("plain/sub")));
  CHECK_FALSE(makeFolders(""));
}

// GDAL 3.6's VSIMkdirRecursive fails on "tiles" or "cache/tiles" (no "./"),
// which is how a user writes CACHE_DIR; and every open of a dataset and of
// each of its overview levels asked for the store again, so an unusable
// folder warned once per level.
TEST_CASE("a relative CACHE_DIR is created with its parents; an unusable one warns once") {
  const DriverScene scene;
  std::map<std::string, std::string> options{
      {"MODEL", scene.model}, {"CACHE_DIR", "cache/tiles"}, {"CACHE_MB", "0"}, {"STRIDE", "32"}};
  std::vector<float> first;
  {
    const InFolder in(scene.dir.path());
    Warnings warnings;
    auto ds = openFeatures(scene.source, options);
    REQUIRE(ds);
    first = readAll(ds.get());
    CHECK(warnings.count() == 0);
    CHECK(counter(ds.get(), "TILES_COMPUTED") == 6 * 4);
  }
  VSIStatBufL st;
  REQUIRE(VSIStatL(scene.dir.file("cache/tiles").c_str(), &st) == 0);
  CHECK(VSI_ISDIR(st.st_mode));
  {
    // The same relative name from elsewhere is another folder; the absolute
    // one is the folder written above.
    options["CACHE_DIR"] = scene.dir.file("cache/tiles");
    auto ds = openFeatures(scene.source, options);
    REQUIRE(ds);
    CHECK(sameValues(first, readAll(ds.get())));
    CHECK(counter(ds.get(), "TILES_FROM_DISK") == 6 * 4);
  }

  // Under a plain file, no folder can be made: one warning in all, and reads go on.
  writeBytes(scene.dir.file("plain"), {'x'});
  options["CACHE_DIR"] = scene.dir.file("plain/tiles");
  Warnings warnings;
  for (int i = 0; i < 2; ++i) {
    auto ds = openFeatures(scene.source, options);  // with its overview levels
    REQUIRE(ds);
    CHECK(sameValues(first, readAll(ds.get())));
    REQUIRE(ds->GetRasterBand(1)->GetOverviewCount() > 0);
    float value = 0;
    CHECK(ds->GetRasterBand(1)->GetOverview(0)->RasterIO(GF_Read, 0, 0, 1, 1, &value, 1, 1,
                                                         GDT_Float32, 0, 0, nullptr) == CE_None);
  }
  CHECK(warnings.count() == 1);
  CHECK(warnings.messages().find("plain/tiles") != std::string::npos);
}

TEST_CASE("a weights digest is remembered between processes, and a hub blob's name is its digest") {
  TempDir dir;
  const std::string weights = dir.file("model.safetensors");
  writeBytes(weights, std::vector<char>(100000, 'w'));
  const std::string digests = dir.file("digests");
  CPLSetConfigOption("VITFEAT_DIGEST_CACHE", digests.c_str());
  CPLErrorReset();
  const std::string digest = vitfeat::fileSha256(weights);
  // A digest not remembered yet is the normal case: no error message.
  CHECK(CPLGetLastErrorType() == CE_None);
  CHECK(digest == vitfeat::sha256File(weights).value_or("?"));
  // One remembered digest file, holding it.
  char** files = VSIReadDir(digests.c_str());
  std::vector<std::string> names;
  for (char** f = files; f && *f; ++f)
    if ((*f)[0] != '.') names.push_back(*f);
  CSLDestroy(files);
  REQUIRE(names.size() == 1);
  const std::vector<char> stored = readBytes(digests + "/" + names[0]);
  CHECK(std::string(stored.begin(), stored.end()) == digest);

  // huggingface_hub's layout: the snapshot file links to blobs/<sha256>; the
  // name is taken as the digest without reading the file.
  const std::string blobs = dir.file("repo/blobs");
  REQUIRE(VSIMkdirRecursive(blobs.c_str(), 0755) == 0);
  const std::string name(64, 'c');
  writeBytes(blobs + "/" + name, std::vector<char>(10, 'x'));
  REQUIRE(VSIMkdirRecursive(dir.file("repo/snapshots/abc").c_str(), 0755) == 0);
  const std::string link = dir.file("repo/snapshots/abc/model.safetensors");
  REQUIRE(symlink(("../../blobs/" + name).c_str(), link.c_str()) == 0);
  CHECK(vitfeat::fileSha256(link) == name);
  CPLSetConfigOption("VITFEAT_DIGEST_CACHE", nullptr);
}

// A tile's key follows every file the source reads and the no data its bands
// declare: rewriting the raster behind a VRT, or giving a read-only raster a
// no-data value through PAM (.aux.xml), recomputes the tiles, in this process
// (memory) and from CACHE_DIR.
TEST_CASE("tiles are recomputed when a file behind a VRT or a PAM no-data value changes") {
  const DriverScene scene;
  const std::map<std::string, std::string> options{{"MODEL", scene.model},
                                                   {"CACHE_DIR", scene.cacheDir},
                                                   {"STRIDE", "32"},
                                                   {"OVERVIEWS", "NONE"}};
  const auto translate = [](const std::string& from, const std::string& to, const char* format) {
    DatasetPtr src(GDALDataset::Open(from.c_str(), GDAL_OF_RASTER));
    REQUIRE(src);
    CPLStringList args;
    args.AddString("-of");
    args.AddString(format);
    GDALTranslateOptions* o = GDALTranslateOptionsNew(args.List(), nullptr);
    GDALDatasetH out = GDALTranslate(to.c_str(), GDALDataset::ToHandle(src.get()), o, nullptr);
    GDALTranslateOptionsFree(o);
    REQUIRE(out);
    GDALClose(out);
  };
  const auto read = [&](const std::string& name, unsigned long long* computed) {
    auto ds = openFeatures(name, options);
    REQUIRE(ds);
    const std::vector<float> v = readAll(ds.get());
    *computed = counter(ds.get(), "TILES_COMPUTED");
    return v;
  };
  unsigned long long computed = 0;

  const std::string vrt = scene.dir.file("over.vrt");
  translate(scene.source, vrt, "VRT");
  const std::vector<float> before = read(vrt, &computed);
  CHECK(computed == 6 * 4);
  read(vrt, &computed);
  CHECK(computed == 0);  // the same files: every tile reused
  writeRaster(scene.source, 200, 150, 3, GDT_Byte,
              [](int x, int y, int b) { return (x * 7 + y * 2 + b * 90) % 256; });
  const std::vector<float> after = read(vrt, &computed);
  CHECK(computed == 6 * 4);
  CHECK_FALSE(sameValues(before, after));

  const std::string png = scene.dir.file("plain.png");
  translate(scene.source, png, "PNG");
  read(png, &computed);
  CHECK(computed == 6 * 4);
  // No data given beside the PNG, as gdal_edit -a_nodata or QGIS do for a
  // format they cannot write: the PNG itself is untouched.
  std::string pam = "<PAMDataset>";
  for (int b = 1; b <= 3; ++b)
    pam += "<PAMRasterBand band=\"" + std::to_string(b) +
           "\"><NoDataValue>0</NoDataValue></PAMRasterBand>";
  pam += "</PAMDataset>";
  writeBytes(png + ".aux.xml", std::vector<char>(pam.begin(), pam.end()));
  {
    DatasetPtr ds(GDALDataset::Open(png.c_str(), GDAL_OF_RASTER));
    REQUIRE(ds);
    int has = FALSE;
    CHECK(ds->GetRasterBand(1)->GetNoDataValue(&has) == 0);
    REQUIRE(has);
  }
  read(png, &computed);
  CHECK(computed == 6 * 4);
}
