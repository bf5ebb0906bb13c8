// Bad input, one table (issue 9, "a clear error, no crash"): every row builds
// one bad input (a damaged model file, a broken descriptor, an invalid option,
// an unusable vector layer), makes the open (or read) call a user would make,
// and checks that it fails with CE_Failure and a message that names the input
// or value and the problem, that nothing crashed, and that GDAL still opens and
// reads a good dataset afterwards. The rows of the second table are unusual
// inputs that must work: tiny rasters, every input data type, no data
// everywhere, NaN and infinities, no CRS, vectors in another CRS or as
// polygons. The cases are listed in docs/bad_inputs.md.
#include <caffe2/serialize/inline_container.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "models/model_folder.h"
#include "models/state_dict.h"
#include "models/vit_config.h"
#include "tests/support/catch_torch.h"
#include "tests/support/checkpoints.h"
#include "tests/support/fixtures.h"
#include "tests/support/rasters.h"
#include "tests/support/views.h"

using namespace vitfeat::test;

namespace {

// ---- The shared good inputs -------------------------------------------------

constexpr int kDim = 16;    // features of the tiny model
constexpr int kInput = 32;  // its input size: 2 x 2 tokens of 16 px
constexpr int kSourceW = 40, kSourceH = 30;
constexpr int kFeatW = 12, kFeatH = 10, kFeatBands = 4;  // the feature GeoTIFF
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// writeTinyModel's structure with kDim features, for doctored weights.
vitfeat::ViTConfig tinyConfig() {
  auto c = vitfeat::vitConfigFromArchitecture("vit_tiny_patch16_224");
  REQUIRE(c);
  c->depth = 1;
  c->embed_dim = kDim;
  c->num_heads = 2;
  c->mlp_hidden = 2 * kDim;
  c->input_height = c->input_width = kInput;
  return *c;
}

double featureValue(int x, int y, int b) {
  return 1.5 + std::sin(0.7 * x + b) + std::cos(0.4 * y - 0.5 * b) + 0.1 * b;
}

// Everything the rows share, written once: a tiny model, a 3-band Byte
// GeoTIFF (40 x 30 px, EPSG:32633, 10 m: 3 x 2 feature cells) and a 4-band
// feature GeoTIFF (12 x 10 cells) for the views.
struct Shared {
  TempDir dir;
  std::string model = dir.file("model");
  std::string source = dir.file("source.tif");
  std::string features = dir.file("features.tif");
  vitfeat::StateDict weights;

  Shared() {
    setupGdal();
    // Nothing of this test is left in the user's caches.
    CPLSetConfigOption("VITFEAT_FIT_CACHE", "NO");
    CPLSetConfigOption("VITFEAT_DIGEST_CACHE", "NO");
    CPLSetConfigOption("VITFEAT_CACHE_DIR", nullptr);
    const vitfeat::ViTConfig c = tinyConfig();
    weights = vitfeat::randomViTWeights(c, 3);
    REQUIRE(vitfeat::writeModelFolder(model, c, weights));
    writeRaster(source, kSourceW, kSourceH, 3, GDT_Byte,
                [](int x, int y, int b) { return (x * 7 + y * 3 + b * 50) % 251; });
    writeFeatures(features, kFeatW, kFeatH, kFeatBands, featureValue);
  }
};

const Shared& shared() {
  static const Shared s;
  return s;
}

// ---- Helpers that write bad inputs ------------------------------------------

std::string lengthPrefix(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(static_cast<char>(n & 0xff));
  return out;
}

// A copy of the good model in `dir`; returns the folder.
std::string copyModel(const std::string& dir) {
  REQUIRE(vitfeat::writeModelFolder(dir, tinyConfig(), shared().weights));
  return dir;
}

// Replaces (or adds) the array `name` of JSON object o.
void setArray(CPLJSONObject o, const std::string& name, const CPLJSONArray& a) {
  o.Delete(name);
  o.Add(name, a);
}

// A model folder whose model.safetensors header is edited by `edit` (the data
// section is kept as it is).
std::string editSafetensorsHeader(const std::string& dir,
                                  const std::function<void(CPLJSONObject&)>& edit) {
  copyModel(dir);
  const std::string file = dir + "/model.safetensors";
  const std::string bytes = readFileBytes(file);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CPLJSONDocument doc;
  REQUIRE(doc.LoadMemory(bytes.substr(8, n)));
  CPLJSONObject root = doc.GetRoot();
  edit(root);
  const std::string header = root.Format(CPLJSONObject::PrettyFormat::Plain);
  writeFileBytes(file, lengthPrefix(header.size()) + header + bytes.substr(8 + n));
  return dir;
}

// The model folder with config.json edited by `edit`.
std::string editConfig(const std::string& dir, const std::function<void(CPLJSONObject&)>& edit) {
  copyModel(dir);
  CPLJSONDocument doc;
  REQUIRE(doc.Load(dir + "/config.json"));
  CPLJSONObject root = doc.GetRoot();
  edit(root);
  REQUIRE(doc.Save(dir + "/config.json"));
  return dir;
}

// The model folder with other weights (a key removed, added or reshaped).
std::string editWeights(const std::string& dir,
                        const std::function<void(vitfeat::StateDict&)>& edit) {
  vitfeat::StateDict sd = shared().weights;
  edit(sd);
  REQUIRE(vitfeat::writeModelFolder(dir, tinyConfig(), sd));
  return dir;
}

// The good weights as a torch.save zip (LibTorch's pickle_save), rewritten
// record by record; `edit` may change a record's bytes.
std::string writePth(const std::string& path,
                     const std::function<void(const std::string&, std::string&)>& edit) {
  const std::string plain = path + ".plain";
  REQUIRE_FALSE(writePickledStateDict(plain, shared().weights).empty());
  caffe2::serialize::PyTorchStreamReader reader(plain);
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.setMinVersion(reader.version());
  for (const std::string& name : reader.getAllRecords()) {
    if (name == "version" || name == ".data/version") continue;  // written at the end
    auto record = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(std::get<0>(record).get()), std::get<1>(record));
    edit(name, bytes);
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
  VSIUnlink(plain.c_str());
  return path;
}

// A zip that looks like a TorchScript archive (<stem>/constants.pkl) but
// holds garbage, with the JSON sidecar a TorchScript model needs.
std::string writeGarbageTorchScript(const std::string& path) {
  {
    caffe2::serialize::PyTorchStreamWriter writer(path);
    const std::string garbage = "this is not a pickle \x01\x02\x03";
    for (const char* name : {"constants.pkl", "data.pkl", "code/__torch__.py"})
      writer.writeRecord(name, garbage.data(), garbage.size());
    writer.writeEndOfFile();
  }
  writeFileBytes(path + ".json", R"({"input_size": 32, "patch_size": 16})");
  return path;
}

std::string writeText(const std::string& path, const std::string& text) {
  writeFileBytes(path, text);
  return path;
}

// A descriptor of the good source with the given "source" and MODEL.
std::string vitfeatDescriptor(const std::string& path, const std::string& source) {
  CPLJSONDocument doc;
  CPLJSONObject root = doc.GetRoot();
  root.Add("vitfeat", 1);
  root.Add("source", source);
  CPLJSONObject options;
  options.Add("MODEL", shared().model);
  root.Add("options", options);
  REQUIRE(doc.Save(path));
  return path;
}

std::string viewDescriptor(const std::string& path, const std::string& driver,
                           const std::string& source) {
  CPLJSONDocument doc;
  CPLJSONObject root = doc.GetRoot();
  root.Add("vitview", 1);
  root.Add("driver", driver);
  root.Add("source", source);
  root.Add("source_options", CPLJSONObject());
  root.Add("options", CPLJSONObject());
  REQUIRE(doc.Save(path));
  return path;
}

// Centre of feature cell (x, y) in EPSG:32633 (writeRaster's grid), and a
// square around it of `half` cells.
double cx(int x) { return 500000 + 10 * (x + 0.5); }
double cy(int y) { return 5200000 - 10 * (y + 0.5); }
std::string pointWkt(int x, int y) { return CPLSPrintf("POINT (%.3f %.3f)", cx(x), cy(y)); }
std::string squareWkt(int x, int y, double half) {
  const double x0 = cx(x) - 10 * half, x1 = cx(x) + 10 * half;
  const double y0 = cy(y) - 10 * half, y1 = cy(y) + 10 * half;
  return CPLSPrintf("POLYGON ((%.3f %.3f, %.3f %.3f, %.3f %.3f, %.3f %.3f, %.3f %.3f))", x0, y0, x1,
                    y0, x1, y1, x0, y1, x0, y0);
}

// The same WKT coordinates transformed from EPSG:32633 to longitude/latitude.
std::string toLonLat(const std::string& wkt) {
  OGRSpatialReference utm, wgs;
  utm.importFromEPSG(32633);
  wgs.importFromEPSG(4326);
  utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  wgs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  OGRGeometry* g = nullptr;
  REQUIRE(OGRGeometryFactory::createFromWkt(wkt.c_str(), &utm, &g) == OGRERR_NONE);
  std::unique_ptr<OGRGeometry> owned(g);
  REQUIRE(owned->transformTo(&wgs) == OGRERR_NONE);
  OGRWktOptions options;
  options.precision = 15;
  return owned->exportToWkt(options);
}

// A GeoTIFF of `type` without georeferencing (no CRS, no geotransform).
void writeBareRaster(const std::string& path, int w, int h) {
  GDALDriver* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
  DatasetPtr ds(gtiff->Create(path.c_str(), w, h, 3, GDT_Byte, nullptr));
  REQUIRE(ds);
  std::vector<GByte> v(static_cast<size_t>(w) * h);
  for (int b = 1; b <= 3; ++b) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<GByte>((i * 13 + b * 40) % 256);
    REQUIRE(ds->GetRasterBand(b)->RasterIO(GF_Write, 0, 0, w, h, v.data(), w, h, GDT_Byte, 0, 0,
                                           nullptr) == CE_None);
  }
}

// writeBareRaster's raster georeferenced by three GCPs (lon/lat) only.
std::string writeGcpRaster(const std::string& path) {
  writeBareRaster(path, kSourceW, kSourceH);
  DatasetPtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
  REQUIRE(ds);
  GDAL_GCP gcps[3];
  GDALInitGCPs(3, gcps);
  const double at[3][4] = {{0, 0, 15.0, 47.0}, {40, 0, 15.1, 47.0}, {0, 30, 15.0, 46.9}};
  for (int i = 0; i < 3; ++i) {
    gcps[i].dfGCPPixel = at[i][0];
    gcps[i].dfGCPLine = at[i][1];
    gcps[i].dfGCPX = at[i][2];
    gcps[i].dfGCPY = at[i][3];
  }
  OGRSpatialReference wgs84;
  wgs84.importFromEPSG(4326);
  REQUIRE(ds->SetGCPs(3, gcps, &wgs84) == CE_None);
  GDALDeinitGCPs(3, gcps);
  return path;
}

// ---- The rows ---------------------------------------------------------------

using Options = std::map<std::string, std::string>;

// What a row opens: a dataset name (a connection string or a file) and open
// options.
struct Input {
  std::string name;
  Options options;
};

enum class Call {
  Open,  // GDALOpenEx fails
  Read,  // the open succeeds; reading the whole raster fails
};

struct BadRow {
  const char* name;
  // Writes the bad input into the row's own folder and says what to open.
  std::function<Input(const std::string& dir)> make;
  Call call;
  // Substrings of the error (CPLGetLastErrorMsg); "{dir}" is the row's folder.
  std::vector<std::string> mentions;
};

struct GoodRow {
  const char* name;
  std::function<Input(const std::string& dir)> make;
  // The output is what it should be (no data as NaN, finite elsewhere...).
  std::function<void(GDALDataset*)> check;
};

// VITFEAT:<the good source> with the good model and `options` (an empty value
// removes an option).
Input features(Options options = {}) {
  Options all{{"MODEL", shared().model}};
  for (const auto& [k, v] : options) all[k] = v;
  for (auto it = all.begin(); it != all.end();) it = it->second.empty() ? all.erase(it) : ++it;
  return {"VITFEAT:" + shared().source, all};
}

// VITFEAT:<source> with the good model and options.
Input featuresOf(const std::string& source, Options options = {}) {
  Input in = features(std::move(options));
  in.name = "VITFEAT:" + source;
  return in;
}

// VITFEAT:<the good source> with MODEL=model.
Input withModel(const std::string& model) { return features({{"MODEL", model}}); }

// <driver>:<the feature GeoTIFF> with options.
Input view(const std::string& driver, Options options) {
  return {driver + ":" + shared().features, std::move(options)};
}

const std::vector<BadRow>& badRows() {
  static const std::vector<BadRow> rows = {
      // ---- Model files ----
      {"model: a path that does not exist",
       [](const std::string& dir) { return withModel(dir + "/nowhere/model.safetensors"); },
       Call::Open,
       {"MODEL={dir}/nowhere/model.safetensors", "not found", "neither a file nor a folder"}},
      {"model: a folder without weights",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         VSIUnlink((dir + "/m/model.safetensors").c_str());
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m", "incomplete", "model.safetensors", "no weight file was found"}},
      {"model: a folder without config.json",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         VSIUnlink((dir + "/m/config.json").c_str());
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m", "incomplete", "config.json is missing"}},
      {"model: an empty weights file",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         writeFileBytes(dir + "/m/model.safetensors", "");
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "unrecognised format"}},
      {"safetensors: truncated",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         const std::string file = dir + "/m/model.safetensors";
         const std::string bytes = readFileBytes(file);
         writeFileBytes(file, bytes.substr(0, bytes.size() - 100));
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "past the data section"}},
      {"safetensors: header length beyond the file",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         const std::string file = dir + "/m/model.safetensors";
         std::string bytes = readFileBytes(file);
         bytes.replace(0, 8, lengthPrefix(bytes.size() + 1000));
         writeFileBytes(file, bytes);
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "past the end of the file"}},
      {"safetensors: overlapping offsets",
       [](const std::string& dir) {
         return withModel(editSafetensorsHeader(dir + "/m", [](CPLJSONObject& h) {
           // norm.weight (16 floats) put on norm.bias's bytes, just before its own.
           setArray(h.GetObj("norm.weight"), "data_offsets",
                    h.GetObj("norm.bias").GetArray("data_offsets"));
         }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "overlap tensor", "norm."}},
      {"safetensors: offsets out of range",
       [](const std::string& dir) {
         return withModel(editSafetensorsHeader(dir + "/m", [](CPLJSONObject& h) {
           CPLJSONArray offsets;
           offsets.Add(static_cast<GInt64>(1) << 40);
           offsets.Add((static_cast<GInt64>(1) << 40) + 64);
           setArray(h.GetObj("norm.bias"), "data_offsets", offsets);
         }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "'norm.bias'", "past the data section"}},
      {"safetensors: unknown dtype",
       [](const std::string& dir) {
         return withModel(editSafetensorsHeader(
             dir + "/m", [](CPLJSONObject& h) { h.GetObj("norm.bias").Set("dtype", "F99"); }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "'norm.bias'", "unknown dtype 'F99'", "F32, F16, BF16"}},
      {"safetensors: shape does not match the bytes",
       [](const std::string& dir) {
         return withModel(editSafetensorsHeader(dir + "/m", [](CPLJSONObject& h) {
           CPLJSONArray shape;
           shape.Add(kDim + 1);
           setArray(h.GetObj("norm.bias"), "shape", shape);
         }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "'norm.bias'", "shape [17] of F32 needs 68 bytes", "span 64"}},
      {"weights: a tensor of the wrong shape",
       [](const std::string& dir) {
         return withModel(editWeights(dir + "/m", [](vitfeat::StateDict& sd) {
           sd["norm.weight"] = torch::ones({kDim - 1});
         }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "norm.weight", "[15]", "[16]"}},
      {"weights: a zero patch size (found by fuzzing)",
       [](const std::string& dir) {
         return withModel(editWeights(dir + "/m", [](vitfeat::StateDict& sd) {
           sd["patch_embed.proj.weight"] = torch::ones({kDim, 3, 0, 0});
         }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "patch_embed.proj.weight", "[16, 3, 0, 0]"}},
      {"weights: a missing key",
       [](const std::string& dir) {
         return withModel(editWeights(
             dir + "/m", [](vitfeat::StateDict& sd) { sd.erase("blocks.0.attn.proj.bias"); }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "blocks.0.attn.proj.bias"}},
      {"weights: an unexpected key",
       [](const std::string& dir) {
         return withModel(editWeights(dir + "/m", [](vitfeat::StateDict& sd) {
           sd["blocks.0.extra.weight"] = torch::ones({kDim});
         }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "blocks.0.extra.weight"}},
      {"config.json: not JSON",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         writeText(dir + "/m/config.json", "{\"architecture\": \"vit_tiny_patch16_224\",");
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/config.json", "cannot parse as JSON"}},
      {"config.json: not UTF-8 (UTF-16 with a byte order mark)",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         const std::string text = readFileBytes(dir + "/m/config.json");
         std::string utf16 = "\xff\xfe";
         for (const char c : text) utf16 += std::string(1, c) + '\0';
         writeFileBytes(dir + "/m/config.json", utf16);
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/config.json", "cannot parse as JSON", "not UTF-8"}},
      {"config.json: an unknown architecture",
       [](const std::string& dir) {
         return withModel(editConfig(
             dir + "/m", [](CPLJSONObject& c) { c.Set("architecture", "resnet50_gn"); }));
       },
       Call::Open,
       {"architecture 'resnet50_gn'", "unknown family or size", "TorchScript"}},
      {"config.json: depth 10^6",
       [](const std::string& dir) {
         return withModel(editConfig(
             dir + "/m", [](CPLJSONObject& c) { c.GetObj("model_args").Set("depth", 1000000); }));
       },
       Call::Open,
       {"{dir}/m/config.json", "model_args.depth=1000000", "have 1"}},
      {"config.json: embed dim not divisible by the heads",
       [](const std::string& dir) {
         return withModel(editConfig(
             dir + "/m", [](CPLJSONObject& c) { c.GetObj("model_args").Set("num_heads", 3); }));
       },
       Call::Open,
       {"{dir}/m/model.safetensors", "embed_dim 16 is not divisible by num_heads 3"}},
      {"config.json: input size 0",
       [](const std::string& dir) {
         return withModel(editConfig(dir + "/m", [](CPLJSONObject& c) {
           CPLJSONArray size;
           for (const int v : {3, 0, 0}) size.Add(v);
           setArray(c.GetObj("pretrained_cfg"), "input_size", size);
         }));
       },
       Call::Open,
       {"INPUT_SIZE=0", "pretrained_cfg", "patch size 16", "16384"}},
      {"config.json: input size 10^6",
       [](const std::string& dir) {
         return withModel(editConfig(dir + "/m", [](CPLJSONObject& c) {
           CPLJSONArray size;
           for (const int v : {3, 1000000, 1000000}) size.Add(v);
           setArray(c.GetObj("pretrained_cfg"), "input_size", size);
         }));
       },
       Call::Open,
       {"INPUT_SIZE=1000000", "pretrained_cfg", "16384"}},
      {"TorchScript: a .pt of random bytes",
       [](const std::string& dir) {
         std::string bytes;
         for (int i = 0; i < 4096; ++i) bytes.push_back(static_cast<char>((i * 7919 + 13) % 251));
         return withModel(writeText(dir + "/encoder.pt", bytes));
       },
       Call::Open,
       {"{dir}/encoder.pt", "unrecognised format"}},
      {"TorchScript: an archive with garbage inside",
       [](const std::string& dir) { return withModel(writeGarbageTorchScript(dir + "/enc.pt")); },
       Call::Open,
       {"{dir}/enc.pt", "cannot load or run the TorchScript module", "Expected PROTO opcode"}},
      {"torch.save: a tensor claims more bytes than its storage holds",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         VSIUnlink((dir + "/m/model.safetensors").c_str());
         writePth(dir + "/m/model.pth", [](const std::string& name, std::string& bytes) {
           if (name == "data/0") bytes.resize(4);  // the first tensor's storage, cut
         });
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/model.pth", "blocks.0.attn.proj.bias", "needs 64 bytes", "holds 4 bytes",
        "damaged"}},
      {"torch.save: a zip cut in half",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         VSIUnlink((dir + "/m/model.safetensors").c_str());
         const std::string bytes = [&] {
           const std::string p = dir + "/whole.pth";
           REQUIRE_FALSE(writePickledStateDict(p, shared().weights).empty());
           return readFileBytes(p);
         }();
         writeFileBytes(dir + "/m/model.pth", bytes.substr(0, bytes.size() / 2));
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/model.pth", "LibTorch could not read it"}},
      {"torch.save: a pickle that is not the zip format",
       [](const std::string& dir) {
         copyModel(dir + "/m");
         VSIUnlink((dir + "/m/model.safetensors").c_str());
         // What torch.save(..., _use_new_zipfile_serialization=False) starts with.
         writeFileBytes(
             dir + "/m/model.pth",
             std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15));
         return withModel(dir + "/m");
       },
       Call::Open,
       {"{dir}/m/model.pth", "legacy", "_use_new_zipfile_serialization=True"}},

      // ---- .vitfeat descriptors ----
      {"descriptor: not JSON",
       [](const std::string& dir) {
         return Input{writeText(dir + "/f.vitfeat", "{\"vitfeat\": 1, \"source\": "), {}};
       },
       Call::Open,
       {"{dir}/f.vitfeat", "not a valid JSON descriptor"}},
      {"descriptor: an unsupported version",
       [](const std::string& dir) {
         return Input{writeText(dir + "/f.vitfeat", "{\"vitfeat\": 7, \"source\": \"a.tif\"}"), {}};
       },
       Call::Open,
       {"{dir}/f.vitfeat", "unsupported descriptor version 7", "expected 1"}},
      {"descriptor: no source",
       [](const std::string& dir) {
         return Input{writeText(dir + "/f.vitfeat", "{\"vitfeat\": 1, \"options\": {}}"), {}};
       },
       Call::Open,
       {"{dir}/f.vitfeat", "no \"source\""}},
      {"descriptor: a source that is not a string",
       [](const std::string& dir) {
         return Input{writeText(dir + "/f.vitfeat", "{\"vitfeat\": 1, \"source\": 5}"), {}};
       },
       Call::Open,
       {"{dir}/f.vitfeat", "\"source\" is a number", "must be a string"}},
      {"descriptor: options that are not an object",
       [](const std::string& dir) {
         return Input{
             writeText(dir + "/f.vitfeat", "{\"vitfeat\": 1, \"source\": \"" + shared().source +
                                               "\", \"options\": [\"MODEL=m\"]}"),
             {}};
       },
       Call::Open,
       {"{dir}/f.vitfeat", "\"options\" is an array", "must be an object"}},
      {"descriptor: no MODEL",
       [](const std::string& dir) {
         return Input{writeText(dir + "/f.vitfeat", "{\"vitfeat\": 1, \"source\": \"" +
                                                        shared().source + "\", \"options\": {}}"),
                      {}};
       },
       Call::Open,
       {"{dir}/f.vitfeat", "MODEL open option is required"}},
      {"descriptor: the source raster is missing",
       [](const std::string& dir) {
         return Input{vitfeatDescriptor(dir + "/f.vitfeat", "gone.tif"), {}};
       },
       Call::Open,
       {"cannot open the source raster {dir}/gone.tif", "No such file or directory"}},
      {"descriptor: its source is itself",
       [](const std::string& dir) {
         return Input{vitfeatDescriptor(dir + "/self.vitfeat", "self.vitfeat"), {}};
       },
       Call::Open,
       {"{dir}/self.vitfeat", "loop of descriptors"}},
      {"descriptor: a loop of two",
       [](const std::string& dir) {
         vitfeatDescriptor(dir + "/b.vitfeat", "a.vitfeat");
         return Input{vitfeatDescriptor(dir + "/a.vitfeat", "b.vitfeat"), {}};
       },
       Call::Open,
       {"{dir}/a.vitfeat", "loop of descriptors"}},
      {"descriptor: a loop through a view descriptor",
       [](const std::string& dir) {
         viewDescriptor(dir + "/p.vitpca", "VITPCA", "a.vitfeat");
         return Input{vitfeatDescriptor(dir + "/a.vitfeat", "VITPCA:" + dir + "/p.vitpca"), {}};
       },
       Call::Open,
       {"{dir}/a.vitfeat -> {dir}/p.vitpca -> {dir}/a.vitfeat", "loop of descriptors"}},
      {"view descriptor: not JSON",
       [](const std::string& dir) {
         return Input{writeText(dir + "/p.vitpca", "{\"vitview\": 1, \"driver\": \"VITPCA\", "),
                      {}};
       },
       Call::Open,
       {"VITPCA", "{dir}/p.vitpca", "not a valid JSON descriptor"}},
      {"view descriptor: no source",
       [](const std::string& dir) {
         return Input{writeText(dir + "/p.vitpca", "{\"vitview\": 1, \"driver\": \"VITPCA\"}"), {}};
       },
       Call::Open,
       {"VITPCA", "{dir}/p.vitpca", "no \"source\""}},
      {"view descriptor: the feature raster is missing",
       [](const std::string& dir) {
         return Input{viewDescriptor(dir + "/c.vitcluster", "VITCLUSTER", "gone.tif"), {}};
       },
       Call::Open,
       {"VITCLUSTER", "cannot open the feature source {dir}/gone.tif"}},
      {"view descriptor: its source is itself",
       [](const std::string& dir) {
         return Input{viewDescriptor(dir + "/p.vitpca", "VITPCA", "p.vitpca"), {}};
       },
       Call::Open,
       {"VITPCA", "{dir}/p.vitpca", "loop of descriptors"}},
      {"view descriptor: a loop of two",
       [](const std::string& dir) {
         viewDescriptor(dir + "/c.vitcluster", "VITCLUSTER", "p.vitpca");
         return Input{viewDescriptor(dir + "/p.vitpca", "VITPCA", "c.vitcluster"), {}};
       },
       Call::Open,
       {"{dir}/p.vitpca", "loop of descriptors"}},
      {"view descriptor: a fit of the wrong size",
       [](const std::string& dir) {
         const std::string path = dir + "/p.vitpca";
         {
           DatasetPtr pca = openDataset("VITPCA:" + shared().features);
           REQUIRE(pca);
           GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("VITPCA");
           DatasetPtr copy(
               driver->CreateCopy(path.c_str(), pca.get(), FALSE, nullptr, nullptr, nullptr));
           REQUIRE(copy);
         }
         CPLJSONDocument doc;
         REQUIRE(doc.Load(path));
         CPLJSONArray mean;
         mean.Add(0.5);
         mean.Add(0.25);
         setArray(doc.GetRoot().GetObj("fit"), "mean", mean);
         REQUIRE(doc.Save(path));
         return Input{path, {}};
       },
       Call::Open,
       {"VITPCA", "{dir}/p.vitpca", "the saved fit's mean has 2 values, expected 4"}},

      // ---- VITFEAT options ----
      {"option: TILE_SIZE=0",
       [](const std::string&) {
         return features({{"TILE_SIZE", "0"}});
       },
       Call::Open,
       {"TILE_SIZE=0", ">= 1"}},
      {"option: STRIDE=-16",
       [](const std::string&) {
         return features({{"STRIDE", "-16"}});
       },
       Call::Open,
       {"STRIDE=-16", ">= 1"}},
      {"option: INPUT_SIZE=nan",
       [](const std::string&) {
         return features({{"INPUT_SIZE", "nan"}});
       },
       Call::Open,
       {"INPUT_SIZE=nan", "integer"}},
      {"option: TILE_SIZE=inf",
       [](const std::string&) {
         return features({{"TILE_SIZE", "inf"}});
       },
       Call::Open,
       {"TILE_SIZE=inf", "integer"}},
      {"option: a TILE_SIZE whose input would not fit in memory",
       [](const std::string&) {
         return features({{"TILE_SIZE", "1048576"}});
       },
       Call::Open,
       {"TILE_SIZE=1048576", "GB for one tile", "use a smaller TILE_SIZE"}},
      {"option: a TARGET_RES larger than the whole area",
       [](const std::string&) {
         return features({{"TARGET_RES", "100000"}});
       },
       Call::Open,
       {"cannot warp", "TARGET_RES=100000", "at least one pixel"}},
      {"option: ENCODER=dofa on a checkpoint of another family",
       [](const std::string&) {
         return features({{"ENCODER", "dofa"}, {"WAVELENGTHS", "0.49,0.56,0.665"}});
       },
       Call::Open,
       {"not a DOFA checkpoint", "do not force ENCODER"}},
      {"option: TARGET_RES=nan",
       [](const std::string&) {
         return features({{"TARGET_RES", "nan"}});
       },
       Call::Open,
       {"TARGET_RES=nan", "positive number"}},
      {"option: SCALE=-inf",
       [](const std::string&) {
         return features({{"NORMALIZE", "model"}, {"SCALE", "-inf"}});
       },
       Call::Open,
       {"SCALE=-inf", "positive number"}},
      {"option: STRIDE not a multiple of the cell",
       [](const std::string&) {
         return features({{"STRIDE", "20"}});
       },
       Call::Open,
       {"STRIDE 20", "cell size 16", "16 and 32"}},
      {"option: STRIDE larger than TILE_SIZE",
       [](const std::string&) {
         return features({{"STRIDE", "64"}});
       },
       Call::Open,
       {"STRIDE 64", "[16, 32]"}},
      {"option: TILE_SIZE not a multiple of the tokens per side",
       [](const std::string&) {
         return features({{"TILE_SIZE", "33"}});
       },
       Call::Open,
       {"TILE_SIZE=33", "multiple", "32 or 34"}},
      {"option: BANDS=0",
       [](const std::string&) {
         return features({{"BANDS", "0"}});
       },
       Call::Open,
       {"BANDS=0", ">= 1"}},
      {"option: BANDS beyond the raster's",
       [](const std::string&) {
         return features({{"BANDS", "1,4"}});
       },
       Call::Open,
       {"BANDS", "band 4 does not exist", "source.tif", "1..3"}},
      {"option: BATCH_SIZE=0",
       [](const std::string&) {
         return features({{"BATCH_SIZE", "0"}});
       },
       Call::Open,
       {"BATCH_SIZE=0", ">= 1"}},
      {"option: BATCH_SIZE=10^11",
       [](const std::string&) {
         return features({{"BATCH_SIZE", "100000000000"}});
       },
       Call::Open,
       {"BATCH_SIZE=100000000000", "<= 16777216"}},
      {"option: CACHE_MB=10^15",
       [](const std::string&) {
         return features({{"CACHE_MB", "1e15"}});
       },
       Call::Open,
       {"CACHE_MB=1e15", "more than this machine's memory"}},
      {"option: CACHE_MB=nan",
       [](const std::string&) {
         return features({{"CACHE_MB", "nan"}});
       },
       Call::Open,
       {"CACHE_MB=nan", ">= 0"}},
      {"option: unknown BLEND",
       [](const std::string&) {
         return features({{"BLEND", "feather"}});
       },
       Call::Open,
       {"BLEND=feather", "first, last, average"}},
      {"option: EXTENT outside the raster",
       [](const std::string&) {
         return features({{"EXTENT", "0,0,100,100"}});
       },
       Call::Open,
       {"EXTENT=0,0,100,100", "does not overlap the raster"}},
      {"option: EXTENT with NaN",
       [](const std::string&) {
         return features({{"EXTENT", "nan,5199800,500200,5200000"}});
       },
       Call::Open,
       {"EXTENT=nan,5199800,500200,5200000", "numbers"}},
      {"option: OVERVIEWS=1",
       [](const std::string&) {
         return features({{"OVERVIEWS", "1"}});
       },
       Call::Open,
       {"OVERVIEWS=1", "factors from 2 to 65536"}},

      // ---- View options ----
      {"VITPCA: more components than feature bands",
       [](const std::string&) {
         return view("VITPCA", {{"N_COMPONENTS", "5"}});
       },
       Call::Open,
       {"N_COMPONENTS=5", "has 4 bands", "at most 4"}},
      {"VITPCA over VITFEAT: more components than features",
       [](const std::string&) {
         return Input{"VITPCA:VITFEAT:" + shared().source,
                      {{"MODEL", shared().model}, {"N_COMPONENTS", "17"}}};
       },
       Call::Open,
       {"N_COMPONENTS=17", "has 16 bands"}},
      {"VITPCA: N_COMPONENTS=0",
       [](const std::string&) {
         return view("VITPCA", {{"N_COMPONENTS", "0"}});
       },
       Call::Open,
       {"N_COMPONENTS=0", "from 1 to"}},
      {"VITCLUSTER: more clusters than samples",
       [](const std::string&) {
         return view("VITCLUSTER", {{"N_CLUSTERS", "500"}});
       },
       Call::Open,
       {"N_CLUSTERS=500", "only 120 cells", "at most 120 clusters"}},
      {"VITCLUSTER hdbscan: MIN_CLUSTER_SIZE above the samples",
       [](const std::string&) {
         return view("VITCLUSTER", {{"METHOD", "hdbscan"}, {"MIN_CLUSTER_SIZE", "1000"}});
       },
       Call::Open,
       {"only 120 cells", "MIN_CLUSTER_SIZE=1000"}},
      {"VITUMAP: more neighbours than samples",
       [](const std::string&) {
         return view("VITUMAP", {{"N_NEIGHBORS", "500"}});
       },
       Call::Open,
       {"only 120 cells", "N_NEIGHBORS=500"}},

      // ---- Vectors ----
      {"VITSIM: POINTS that are not x,y",
       [](const std::string&) {
         return view("VITSIM", {{"POINTS", "500010;abc"}});
       },
       Call::Open,
       {"POINTS=500010;abc", "not x,y"}},
      {"VITSIM: a VECTOR that does not exist",
       [](const std::string& dir) {
         return view("VITSIM", {{"VECTOR", dir + "/none.gpkg"}});
       },
       Call::Open,
       {"VECTOR={dir}/none.gpkg"}},
      {"VITSIM: an empty layer",
       [](const std::string& dir) {
         return view("VITSIM", {{"VECTOR", writeVector(dir + "/v.gpkg", 32633, {})}});
       },
       Call::Open,
       {"VECTOR={dir}/v.gpkg", "layer refs", "no usable geometry"}},
      {"VITSIM: no feature inside the raster",
       [](const std::string& dir) {
         return view("VITSIM",
                     {{"VECTOR", writeVector(dir + "/v.gpkg", 32633,
                                             {{pointWkt(-50, 3), "a"}, {pointWkt(4, 400), "a"}})}});
       },
       Call::Open,
       {"no reference point lies on data", "features.tif", "2 points given"}},
      {"VITSIM: a GROUP_BY field that does not exist",
       [](const std::string& dir) {
         return view("VITSIM",
                     {{"VECTOR", writeVector(dir + "/v.gpkg", 32633, {{pointWkt(2, 2), "a"}})},
                      {"GROUP_BY", "landcover"}});
       },
       Call::Open,
       {"GROUP_BY=landcover", "layer refs has the fields: class"}},
      {"VITCLASSIFY: an empty TRAINING layer",
       [](const std::string& dir) {
         return view("VITCLASSIFY",
                     {{"TRAINING", writeVector(dir + "/t.gpkg", 32633, {})}, {"FIELD", "class"}});
       },
       Call::Open,
       {"TRAINING={dir}/t.gpkg", "no usable geometry"}},
      {"VITCLASSIFY: no training point inside the raster",
       [](const std::string& dir) {
         return view("VITCLASSIFY", {{"TRAINING", writeVector(dir + "/t.gpkg", 32633,
                                                              {{pointWkt(-50, 3), "water"},
                                                               {pointWkt(-60, 3), "water"},
                                                               {pointWkt(3, -40), "forest"},
                                                               {pointWkt(3, -30), "forest"}})},
                                     {"FIELD", "class"}});
       },
       Call::Open,
       {"class forest", "FIELD=class", "0 usable training samples", "features.tif"}},
      {"VITCLASSIFY: a FIELD that does not exist",
       [](const std::string& dir) {
         return view("VITCLASSIFY",
                     {{"TRAINING", writeVector(dir + "/t.gpkg", 32633, {{pointWkt(2, 2), "a"}})},
                      {"FIELD", "landcover"}});
       },
       Call::Open,
       {"FIELD=landcover", "layer refs has the fields: class"}},
      {"VITCLASSIFY: no FIELD",
       [](const std::string& dir) {
         return view("VITCLASSIFY",
                     {{"TRAINING", writeVector(dir + "/t.gpkg", 32633, {{pointWkt(2, 2), "a"}})}});
       },
       Call::Open,
       {"FIELD=(none)", "name the field"}},

      // ---- Reading ----
      {"source: a GeoTIFF with a damaged tile (fails when read)",
       [](const std::string& dir) {
         const std::string tif = dir + "/damaged.tif";
         writeRaster(tif, 64, 64, 3, GDT_Byte, [](int x, int y, int b) { return x + y + b; },
                     {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE"});
         damageTiffBlock(tif, 1, 1);
         // NORMALIZE=model: the open reads no pixels.
         return featuresOf(tif, {{"NORMALIZE", "model"}});
       },
       Call::Read,
       {"{dir}/damaged.tif", "IReadBlock failed"}},
  };
  return rows;
}

// ---- Checks of the outputs of the rows that must work -------------------------

std::string metadataItem(GDALDataset* ds, const char* name, const char* domain) {
  const char* v = ds->GetMetadataItem(name, domain);
  return v ? v : "";
}

std::function<void(GDALDataset*)> allFinite(int width, int height, int bands) {
  return [=](GDALDataset* ds) {
    CHECK(ds->GetRasterXSize() == width);
    CHECK(ds->GetRasterYSize() == height);
    CHECK(ds->GetRasterCount() == bands);
    const std::vector<float> v = readAll(ds);
    size_t finite = 0;
    for (const float x : v) finite += std::isfinite(x) ? 1 : 0;
    CHECK(finite == v.size());
  };
}

// Cells of feature columns < nanColumns are NaN in every band, the others finite.
std::function<void(GDALDataset*)> nanColumns(int nanColumns) {
  return [=](GDALDataset* ds) {
    const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
    const std::vector<float> v = readAll(ds);
    int wrong = 0;
    for (int b = 0; b < ds->GetRasterCount(); ++b)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          const float f = v[(static_cast<size_t>(b) * h + y) * w + x];
          const bool expectNaN = x < nanColumns;
          if (expectNaN != std::isnan(f) || std::isinf(f)) ++wrong;
        }
    CHECK(wrong == 0);
  };
}

const std::vector<GoodRow>& goodRows() {
  static const std::vector<GoodRow> rows = {
      {"works: a 1 x 1 raster",
       [](const std::string& dir) {
         writeRaster(dir + "/one.tif", 1, 1, 3, GDT_Byte, [](int, int, int b) { return 10 + b; });
         return featuresOf(dir + "/one.tif");
       },
       allFinite(1, 1, kDim)},
      {"works: a raster smaller than one tile",
       [](const std::string& dir) {
         writeRaster(dir + "/small.tif", 20, 10, 3, GDT_Byte,
                     [](int x, int y, int b) { return x * 5 + y + b; });
         return featuresOf(dir + "/small.tif");
       },
       allFinite(2, 1, kDim)},
      {"works: Byte input", [](const std::string&) { return features(); }, allFinite(3, 2, kDim)},
      {"works: UInt16 input",
       [](const std::string& dir) {
         writeRaster(dir + "/u16.tif", kSourceW, kSourceH, 3, GDT_UInt16,
                     [](int x, int y, int b) { return 1000 * b + 997 * x + 13 * y; });
         return featuresOf(dir + "/u16.tif");
       },
       allFinite(3, 2, kDim)},
      {"works: Int16 input",
       [](const std::string& dir) {
         writeRaster(dir + "/i16.tif", kSourceW, kSourceH, 3, GDT_Int16,
                     [](int x, int y, int b) { return -30000 + 1500 * x + 7 * y + b; });
         return featuresOf(dir + "/i16.tif");
       },
       allFinite(3, 2, kDim)},
      {"works: Float32 input",
       [](const std::string& dir) {
         writeRaster(dir + "/f32.tif", kSourceW, kSourceH, 3, GDT_Float32,
                     [](int x, int y, int b) { return std::sin(0.3 * x) * 1e-3 + y * 1e-4 + b; });
         return featuresOf(dir + "/f32.tif");
       },
       allFinite(3, 2, kDim)},
      {"works: Float64 input",
       [](const std::string& dir) {
         writeRaster(dir + "/f64.tif", kSourceW, kSourceH, 3, GDT_Float64,
                     [](int x, int y, int b) { return 1e6 + x * 0.25 - y * 0.5 + b; });
         return featuresOf(dir + "/f64.tif");
       },
       allFinite(3, 2, kDim)},
      {"works: every pixel no data (NaN output)",
       [](const std::string& dir) {
         const std::string tif = dir + "/nodata.tif";
         writeRaster(tif, kSourceW, kSourceH, 3, GDT_Float32, [](int, int, int) { return -9999; });
         DatasetPtr ds(GDALDataset::Open(tif.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
         REQUIRE(ds);
         for (int b = 1; b <= 3; ++b) ds->GetRasterBand(b)->SetNoDataValue(-9999);
         return featuresOf(tif);
       },
       nanColumns(3)},
      {"works: NaN and infinities are no data",
       [](const std::string& dir) {
         // The left tile (2 feature columns) holds only NaN, +inf and -inf.
         writeRaster(dir + "/nan.tif", 64, 32, 3, GDT_Float32, [](int x, int y, int b) {
           if (x < 32) {
             const int k = (x + y + b) % 3;
             return k == 0 ? kNaN : k == 1 ? HUGE_VAL : -HUGE_VAL;
           }
           return 0.5 + 0.01 * x - 0.02 * y + b;
         });
         return featuresOf(dir + "/nan.tif");
       },
       nanColumns(2)},
      {"works: no CRS and no geotransform",
       [](const std::string& dir) {
         writeBareRaster(dir + "/bare.tif", kSourceW, kSourceH);
         return featuresOf(dir + "/bare.tif");
       },
       [](GDALDataset* ds) {
         const OGRSpatialReference* srs = ds->GetSpatialRef();
         CHECK((srs == nullptr || srs->IsEmpty()));
         allFinite(3, 2, kDim)(ds);
       }},
      {"works: a rotated geotransform (features on the raster's own pixel grid)",
       [](const std::string& dir) {
         const std::string tif = dir + "/rotated.tif";
         writeRaster(tif, kSourceW, kSourceH, 3, GDT_Byte,
                     [](int x, int y, int b) { return (x * 7 + y * 3 + b * 50) % 251; });
         DatasetPtr ds(GDALDataset::Open(tif.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
         REQUIRE(ds);
         double gt[6] = {500000, 8.66, 5, 5200000, 5, -8.66};  // 10 m pixels turned 30 degrees
         REQUIRE(ds->SetGeoTransform(gt) == CE_None);
         ds.reset();
         return featuresOf(tif);
       },
       [](GDALDataset* ds) {
         double gt[6];
         REQUIRE(ds->GetGeoTransform(gt) == CE_None);
         // 16-pixel cells: the pixel terms, rotation included, times 16.
         const double expected[6] = {500000, 8.66 * 16, 5 * 16, 5200000, 5 * 16, -8.66 * 16};
         for (int i = 0; i < 6; ++i) CHECK(gt[i] == Approx(expected[i]));
         allFinite(3, 2, kDim)(ds);
       }},
      {"works: an alpha band masks the other bands instead of feeding the model",
       [](const std::string& dir) {
         // RGBA (gdalwarp -dstalpha's layout): transparent over the left tile.
         const std::string tif = dir + "/rgba.tif";
         writeRaster(tif, 64, 32, 4, GDT_Byte, [](int x, int y, int b) {
           return b == 3 ? (x < 32 ? 0 : 255) : (x * 5 + y * 3 + b * 40) % 250;
         });
         DatasetPtr ds(GDALDataset::Open(tif.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
         REQUIRE(ds);
         REQUIRE(ds->GetRasterBand(4)->SetColorInterpretation(GCI_AlphaBand) == CE_None);
         ds.reset();
         return featuresOf(tif);
       },
       [](GDALDataset* ds) {
         CHECK(metadataItem(ds, "BANDS", "VITFEAT") == "1,2,3");
         nanColumns(2)(ds);
       }},
      {"works: an EXTENT far larger than the raster estimates statistics on the raster",
       [](const std::string&) {
         // 40 x 30 pixels of 10 m inside a 2,000 km square.
         return features({{"EXTENT", "0,4200000,2000000,6200000"}, {"OVERVIEWS", "NONE"}});
       },
       [](GDALDataset* ds) {
         CHECK(metadataItem(ds, "NORMALIZE_STATISTICS_BAND_1", "VITFEAT").find("pixels=1200") !=
               std::string::npos);
       }},
      {"works: a source with ground control points only (warned about: see below)",
       [](const std::string& dir) { return featuresOf(writeGcpRaster(dir + "/gcps.tif")); },
       [](GDALDataset* ds) {
         double gt[6];
         CHECK(ds->GetGeoTransform(gt) != CE_None);
         allFinite(3, 2, kDim)(ds);
       }},
      {"works: a TARGET_RES far finer than the input estimates statistics on a coarse warp",
       [](const std::string&) {
         // 40 x 30 pixels of 10 m warped to 5 cm: 8000 x 6000 pixels, which the
         // estimate used to warp in full at the open.
         return features({{"TARGET_RES", "0.05"}, {"OVERVIEWS", "NONE"}});
       },
       [](GDALDataset* ds) {
         CHECK(ds->GetRasterXSize() == 8000 / 16);
         const std::string stats = metadataItem(ds, "NORMALIZE_STATISTICS_BAND_1", "VITFEAT");
         INFO(stats);
         const size_t at = stats.find("pixels=");
         REQUIRE(at != std::string::npos);
         const long long pixels = std::atoll(stats.c_str() + at + 7);
         CHECK(pixels > 0);
         CHECK(pixels <= 1024 * 1024);
       }},
      {"works: BATCH_SIZE=16777216 (batches never exceed the tiles a read needs)",
       [](const std::string&) {
         return features({{"BATCH_SIZE", "16777216"}});
       },
       allFinite(3, 2, kDim)},
      {"works: VITSIM VECTOR in another CRS (EPSG:4326)",
       [](const std::string& dir) {
         return view("VITSIM", {{"VECTOR", writeVector(dir + "/v.gpkg", 4326,
                                                       {{toLonLat(pointWkt(2, 3)), "a"},
                                                        {toLonLat(pointWkt(7, 6)), "a"}})}});
       },
       [](GDALDataset* ds) {
         allFinite(kFeatW, kFeatH, 1)(ds);
         CHECK(metadataItem(ds, "POINTS_OUTSIDE", "VITSIM") == "0");
       }},
      {"works: VITSIM polygons are sampled",
       [](const std::string& dir) {
         return view(
             "VITSIM",
             {{"VECTOR", writeVector(dir + "/v.gpkg", 32633, {{squareWkt(3, 3, 1.5), "a"}})},
              {"SAMPLES", "20"}});
       },
       [](GDALDataset* ds) {
         allFinite(kFeatW, kFeatH, 1)(ds);
         CHECK(metadataItem(ds, "POINTS_GIVEN", "VITSIM") == "20");
       }},
      {"works: VITCLASSIFY polygons in another CRS",
       [](const std::string& dir) {
         return view("VITCLASSIFY",
                     {{"TRAINING", writeVector(dir + "/t.gpkg", 4326,
                                               {{toLonLat(squareWkt(2, 2, 1.5)), "a"},
                                                {toLonLat(squareWkt(9, 7, 1.5)), "b"}})},
                      {"FIELD", "class"},
                      {"SAMPLES", "10"}});
       },
       [](GDALDataset* ds) {
         CHECK(ds->GetRasterXSize() == kFeatW);
         CHECK(ds->GetRasterCount() == 1);
         const std::vector<float> v = readAll(ds);
         int a = 0, b = 0, other = 0;
         for (const float x : v) {
           if (x == 0)
             ++a;
           else if (x == 1)
             ++b;
           else
             ++other;
         }
         CHECK(other == 0);
         CHECK(a > 0);
         CHECK(b > 0);
       }},
  };
  return rows;
}

// ---- Running a row ----------------------------------------------------------

std::string substituted(std::string text, const std::string& dir) {
  for (size_t at = text.find("{dir}"); at != std::string::npos; at = text.find("{dir}"))
    text.replace(at, 5, dir);
  return text;
}

GDALDataset* openInput(const Input& in) {
  CPLStringList oo;
  for (const auto& [k, v] : in.options) oo.SetNameValue(k.c_str(), v.c_str());
  return GDALDataset::Open(in.name.c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR, nullptr,
                           oo.List());
}

// After a bad input, a good dataset still opens and reads.
void checkGdalStillWorks() {
  CPLErrorReset();
  DatasetPtr ds = openFeatures(shared().source, {{"MODEL", shared().model}});
  INFO("the good dataset after the row: " << CPLGetLastErrorMsg());
  REQUIRE(ds);
  const std::vector<float> v = readAll(ds.get());
  for (const float x : v) REQUIRE(std::isfinite(x));
}

void runBadRow(const BadRow& row) {
  const TempDir dir;
  const Input in = row.make(dir.path());
  std::string message;
  CPLErr type = CE_None;
  {
    const ExpectErrors quiet;  // starts from a clean error state
    DatasetPtr ds(openInput(in));
    if (row.call == Call::Read) {
      INFO("the open should succeed: " << CPLGetLastErrorMsg());
      REQUIRE(ds);
      CPLErrorReset();
      const int bands = ds->GetRasterCount();
      std::vector<float> buffer(static_cast<size_t>(bands) * ds->GetRasterXSize() *
                                ds->GetRasterYSize());
      const CPLErr read = ds->RasterIO(GF_Read, 0, 0, ds->GetRasterXSize(), ds->GetRasterYSize(),
                                       buffer.data(), ds->GetRasterXSize(), ds->GetRasterYSize(),
                                       GDT_Float32, bands, nullptr, 0, 0, 0, nullptr);
      CHECK(read == CE_Failure);
    } else {
      CHECK_FALSE(ds);
    }
    message = CPLGetLastErrorMsg();
    type = CPLGetLastErrorType();
  }
  INFO("error: " << message);
  CHECK(type == CE_Failure);
  CHECK(message.find("Exception raised from") == std::string::npos);  // no C++ backtrace
  for (const std::string& m : row.mentions) {
    const std::string expected = substituted(m, dir.path());
    INFO("expected in the error: " << expected);
    CHECK(message.find(expected) != std::string::npos);
  }
  checkGdalStillWorks();
}

void runGoodRow(const GoodRow& row) {
  const TempDir dir;
  const Input in = row.make(dir.path());
  CPLErrorReset();
  DatasetPtr ds(openInput(in));
  INFO("error: " << CPLGetLastErrorMsg());
  REQUIRE(ds);
  row.check(ds.get());
}

}  // namespace

TEST_CASE("bad_inputs: each bad input fails with a clear error, and GDAL still works",
          "[bad_input]") {
  shared();
  for (const BadRow& row : badRows()) {
    DYNAMIC_SECTION(row.name) { runBadRow(row); }
  }
}

TEST_CASE("bad_inputs: unusual inputs that must work", "[bad_input]") {
  shared();
  for (const GoodRow& row : goodRows()) {
    DYNAMIC_SECTION(row.name) { runGoodRow(row); }
  }
}

TEST_CASE("bad_inputs: a source georeferenced by GCPs only is warned about", "[bad_input]") {
  shared();
  const TempDir dir;
  const std::string tif = writeGcpRaster(dir.file("gcps.tif"));
  DatasetPtr ds;
  int about = 0;
  const Warnings warnings;
  ds.reset(openInput(featuresOf(tif)));
  REQUIRE(ds);
  for (const std::string& w : warnings.list())
    if (w.find("ground control points") != std::string::npos &&
        w.find("TARGET_SRS") != std::string::npos)
      ++about;
  CHECK(about == 1);
}

TEST_CASE("bad_inputs: the table is large enough", "[bad_input]") {
  CHECK(badRows().size() + goodRows().size() >= 40);
}
