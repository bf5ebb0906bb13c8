// vitfeat_make_scene: writes the synthetic landscape that tools/example.sh runs
// the plugin on, so that the example needs no external data. A 4-band Byte
// GeoTIFF (blue, green, red, near infrared; EPSG:32633, 10 m pixels) of
//
//   * agricultural parcels with hedges between them, each a crop with its own
//     colour, near-infrared response and texture: rows or furrows at one of
//     eight angles (wheat, maize, ploughed soil, rapeseed), meadows, orchards
//     (trees on a grid) and small woodlots; parcel edges are gently warped so
//     that not every field is a perfect rectangle;
//   * a forest in the north-west: dark, high near infrared, blotchy crowns;
//   * a meandering river running into a lake in the south-east: dark, almost
//     no near infrared, smooth;
//   * roads: a north-south and an east-west road along parcel edges and a
//     diagonal one, bright lines that bridge the water;
//   * a small town of roofs, gardens and streets at the road crossing.
//
//   vitfeat_make_scene OUT.tif [--size N] [--seed S]
//
// N is the side in pixels, 64 to 16384 (default 1024: 64 x 64 feature cells of
// a patch-16 ViT at its native resolution). The layout is drawn in "design
// units" of a 1024-unit square and scaled to N, so sizes above 1024 add pixels
// but not sharper edges; textures (rows, crowns, roofs) are in pixels. It also
// prints one reference point per land cover (map coordinates, EPSG:32633) for
// the similarity view.
//
// Pixels are computed in integer arithmetic with a generator of our own
// (splitmix64 and hashed value noise): no floating point, no libm and no
// standard-library distributions, whose results may differ between compilers,
// libraries and CPUs (FMA contraction). The same seed and size give the same
// pixels on every machine.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gdal_priv.h"
#include "ogr_spatialref.h"

namespace {

// ---------------------------------------------------------------- randomness

// splitmix64's step: a bijective 64-bit mix with good avalanche.
uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A sequential generator for the layout (parcel splits and crops).
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_++ * 0x9E3779B97F4A7C15ULL); }
  // Uniform integer in [lo, hi] (the modulo bias is irrelevant at these ranges).
  int64_t range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t state_;
};

// ------------------------------------------------------------ fixed point noise

// Q16 fixed point: kOne is 1.0. Intermediate products fit easily in int64.
constexpr int64_t kOne = 65536;

// Floor division (C++ integer division truncates towards zero).
int64_t floorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Hash of a lattice point for one noise layer (salt), in [0, kOne).
int64_t lattice(uint64_t seed, uint64_t salt, int64_t ix, int64_t iy) {
  const uint64_t h =
      mix64(seed ^ mix64(salt ^ mix64(static_cast<uint64_t>(ix) * 0x632BE59BD9B4E019ULL +
                                      static_cast<uint64_t>(iy))));
  return static_cast<int64_t>(h >> 48);
}

// 3t^2 - 2t^3: interpolating with it hides the lattice's grid lines.
int64_t smoothstep(int64_t t) { return t * t / kOne * (3 * kOne - 2 * t) / kOne; }

// Value noise with lattice spacing `cell` (in the units of x, y), in [0, kOne).
int64_t valueNoise(uint64_t seed, uint64_t salt, int64_t x, int64_t y, int64_t cell) {
  const int64_t ix = floorDiv(x, cell), iy = floorDiv(y, cell);
  const int64_t sx = smoothstep((x - ix * cell) * kOne / cell);
  const int64_t sy = smoothstep((y - iy * cell) * kOne / cell);
  const int64_t a = lattice(seed, salt, ix, iy), b = lattice(seed, salt, ix + 1, iy);
  const int64_t c = lattice(seed, salt, ix, iy + 1), d = lattice(seed, salt, ix + 1, iy + 1);
  const int64_t top = a + (b - a) * sx / kOne, bottom = c + (d - c) * sx / kOne;
  return top + (bottom - top) * sy / kOne;
}

// Three octaves (weights 4:2:1, spacing halved each time): natural-looking
// irregular shapes for boundaries and patchiness. In [0, kOne).
int64_t fbm(uint64_t seed, uint64_t salt, int64_t x, int64_t y, int64_t cell) {
  return (4 * valueNoise(seed, salt, x, y, cell) +
          2 * valueNoise(seed, salt + 1, x, y, cell / 2 > 0 ? cell / 2 : 1) +
          valueNoise(seed, salt + 2, x, y, cell / 4 > 0 ? cell / 4 : 1)) /
         7;
}

// Per-pixel hash in [-amp, amp]: sensor noise.
int64_t jitter(uint64_t seed, uint64_t salt, int64_t x, int64_t y, int64_t amp) {
  return lattice(seed, salt, x, y) * (2 * amp + 1) / kOne - amp;
}

// -------------------------------------------------------------------- colours

// Reflectances as Byte values, in band order blue, green, red, near infrared.
struct Colour {
  int64_t b, g, r, n;
};

Colour lerp(const Colour& a, const Colour& z, int64_t t) {  // t in Q16
  return {a.b + (z.b - a.b) * t / kOne, a.g + (z.g - a.g) * t / kOne, a.r + (z.r - a.r) * t / kOne,
          a.n + (z.n - a.n) * t / kOne};
}

Colour scale(const Colour& c, int64_t f) {  // f in Q16
  return {c.b * f / kOne, c.g * f / kOne, c.r * f / kOne, c.n * f / kOne};
}

// Roughly what a vegetated / bare / wet surface looks like in a 4-band optical
// sensor: vegetation is dark in red and bright in near infrared, water dark in
// near infrared, soil and concrete similar in all bands.
constexpr Colour kWater = {72, 60, 34, 12};
constexpr Colour kWaterDeep = {58, 46, 24, 8};
constexpr Colour kForestLit = {44, 78, 44, 190};
constexpr Colour kForestShade = {18, 30, 16, 70};
constexpr Colour kHedge = {34, 62, 34, 150};
constexpr Colour kRoad = {176, 178, 180, 160};
constexpr Colour kStreet = {96, 98, 102, 84};
constexpr Colour kRoofRed = {62, 72, 150, 86};
constexpr Colour kRoofGrey = {128, 130, 134, 112};
constexpr Colour kRoofDark = {70, 72, 76, 64};
constexpr Colour kGarden = {52, 92, 58, 150};

// ------------------------------------------------------------------- parcels

enum class Crop { kWheat, kMaize, kSoil, kRapeseed, kMeadow, kOrchard, kWoodlot };

struct Parcel {
  int64_t x0, y0, x1, y1;  // design units, half-open
  Crop crop;
  int64_t dx, dy;      // row direction, |(dx, dy)| ~ 1024
  int64_t period;      // row spacing, pixels
  int64_t brightness;  // Q16 factor
};

// Row directions at 0, 30, 45, 60, 90, 120, 135 and 150 degrees, x 1024,
// tabulated so that no trigonometry is needed.
constexpr int64_t kDirections[8][2] = {{1024, 0}, {887, 512},  {724, 724},  {512, 887},
                                       {0, 1024}, {-512, 887}, {-724, 724}, {-887, 512}};

Crop pickCrop(SplitMix& rng) {
  // Weights: wheat 3, maize 3, soil 2, rapeseed 2, meadow 2, orchard 1, woodlot 1.
  static constexpr Crop kBag[] = {Crop::kWheat,    Crop::kWheat,    Crop::kWheat,  Crop::kMaize,
                                  Crop::kMaize,    Crop::kMaize,    Crop::kSoil,   Crop::kSoil,
                                  Crop::kRapeseed, Crop::kRapeseed, Crop::kMeadow, Crop::kMeadow,
                                  Crop::kOrchard,  Crop::kWoodlot};
  return kBag[rng.range(0, sizeof(kBag) / sizeof(kBag[0]) - 1)];
}

// Recursive splits of a rectangle into fields of roughly 80 to 220 units.
void split(SplitMix& rng, int64_t x0, int64_t y0, int64_t x1, int64_t y1,
           std::vector<Parcel>& out) {
  const int64_t w = x1 - x0, h = y1 - y0;
  const bool big = w > 220 || h > 220;
  const bool splittable = w > 160 || h > 160;
  if (big || (splittable && rng.range(0, 2) != 0)) {
    const bool vertical = w > h ? rng.range(0, 4) != 0 : rng.range(0, 4) == 0;
    if (vertical && w >= 2 * 60) {
      const int64_t at = x0 + rng.range(w * 35 / 100, w * 65 / 100);
      split(rng, x0, y0, at, y1, out);
      split(rng, at, y0, x1, y1, out);
      return;
    }
    if (!vertical && h >= 2 * 60) {
      const int64_t at = y0 + rng.range(h * 35 / 100, h * 65 / 100);
      split(rng, x0, y0, x1, at, out);
      split(rng, x0, at, x1, y1, out);
      return;
    }
  }
  Parcel p{x0, y0, x1, y1, pickCrop(rng), 0, 0, 0, 0};
  // Rows mostly follow the longer side of the field, sometimes another angle.
  const int64_t along = w >= h ? 0 : 4;
  const int64_t dir = rng.range(0, 2) != 0 ? along : rng.range(0, 7);
  p.dx = kDirections[dir][0];
  p.dy = kDirections[dir][1];
  p.period = rng.range(5, 9);
  p.brightness = rng.range(kOne * 88 / 100, kOne * 112 / 100);
  out.push_back(p);
}

// --------------------------------------------------------------------- scene

// Fixed layout, design units (the scene is 1024 units square).
constexpr int64_t kRoadX = 600, kRoadY = 380;      // north-south, east-west road
constexpr int64_t kDiagX0 = 40, kDiagY0 = 1024;    // diagonal road from here ...
constexpr int64_t kDiagX1 = 1024, kDiagY1 = 170;   // ... to here
constexpr int64_t kLakeX = 810, kLakeY = 800;      // lake centre
constexpr int64_t kLakeRX = 185, kLakeRY = 135;    // lake radii
constexpr int64_t kForestX = 220, kForestY = 190;  // forest centre
constexpr int64_t kForestR = 300;                  // forest radius (before noise)
constexpr int64_t kTownHalf = 95;                  // town: square around the crossing
constexpr int64_t kRoadHalf = 4, kDiagHalf = 5;    // road half-widths

class Scene {
 public:
  Scene(int64_t size, uint64_t seed) : size_(size), seed_(seed) {
    SplitMix rng(seed);
    // The main roads run along parcel edges: split there first.
    split(rng, 0, 0, kRoadX, kRoadY, parcels_);
    split(rng, kRoadX, 0, 1024, kRoadY, parcels_);
    split(rng, 0, kRoadY, kRoadX, 1024, parcels_);
    split(rng, kRoadX, kRoadY, 1024, 1024, parcels_);
  }

  // The colour of pixel (x, y).
  Colour pixel(int64_t x, int64_t y) const {
    // Design coordinates of the pixel centre.
    const int64_t u = (2 * x + 1) * 1024 / (2 * size_), v = (2 * y + 1) * 1024 / (2 * size_);
    if (isRoad(u, v)) return road(x, y);
    if (int64_t depth = water(u, v)) return lerp(kWater, kWaterDeep, depth);
    if (inTown(u, v)) return town(x, y, u, v);
    if (inForest(u, v)) return forest(x, y);
    return field(x, y, u, v);
  }

  // Map position (pixel centre) of a design point.
  double mapX(int64_t u) const { return kOriginX + (u * size_ / 1024 + 0.5) * kPixel; }
  double mapY(int64_t v) const { return kOriginY - (v * size_ / 1024 + 0.5) * kPixel; }

  static constexpr double kOriginX = 500000, kOriginY = 5200000, kPixel = 10;

 private:
  bool isRoad(int64_t u, int64_t v) const {
    if (std::llabs(u - kRoadX) <= kRoadHalf || std::llabs(v - kRoadY) <= kRoadHalf) return true;
    // Distance to the diagonal's line, compared squared to avoid a square root.
    const int64_t ax = kDiagX1 - kDiagX0, ay = kDiagY1 - kDiagY0;
    const int64_t cross = (u - kDiagX0) * ay - (v - kDiagY0) * ax;
    return cross * cross <= kDiagHalf * kDiagHalf * (ax * ax + ay * ay);
  }

  Colour road(int64_t x, int64_t y) const {
    const int64_t n = jitter(seed_, 11, x, y, 6);
    return {kRoad.b + n, kRoad.g + n, kRoad.r + n, kRoad.n + n};
  }

  // 0 on land, else how deep (Q16, at least 1) the pixel lies in water.
  int64_t water(int64_t u, int64_t v) const {
    // The lake: an ellipse, q = (d / r)^2 in Q16, whose shore low-frequency
    // noise pushes in and out by up to a quarter of the radius.
    const int64_t du = u - kLakeX, dv = v - kLakeY;
    const int64_t q =
        (du * du * kOne / (kLakeRX * kLakeRX)) + (dv * dv * kOne / (kLakeRY * kLakeRY));
    const int64_t wobble = kOne * 3 / 4 + fbm(seed_, 20, u, v, 120) / 2;  // 0.75 .. 1.25
    const int64_t limit = wobble * wobble / kOne;
    if (q < limit) return 1 + (limit - q) * kOne / limit;
    // The river: a meandering centre line from the west edge into the lake.
    if (u > kLakeX) return 0;
    const int64_t base = 600 + (kLakeY - 600) * u / kLakeX;
    const int64_t meander = (fbm(seed_, 30, u, 0, 260) - kOne / 2) * 260 / kOne;
    const int64_t half = 16 + valueNoise(seed_, 40, u, 0, 90) * 8 / kOne;
    return std::llabs(v - base - meander) <= half ? 1 : 0;
  }

  bool inTown(int64_t u, int64_t v) const {
    const int64_t edge = kTownHalf + (fbm(seed_, 50, u, v, 80) - kOne / 2) * 60 / kOne;
    return std::llabs(u - kRoadX) <= edge && std::llabs(v - kRoadY) <= edge;
  }

  // Blocks of 32 units: streets around, four lots inside, each a roof or a garden.
  Colour town(int64_t x, int64_t y, int64_t u, int64_t v) const {
    const int64_t bu = floorDiv(u - kRoadX, 32), bv = floorDiv(v - kRoadY, 32);
    const int64_t lu = u - kRoadX - bu * 32, lv = v - kRoadY - bv * 32;
    const int64_t n = jitter(seed_, 60, x, y, 4);
    if (lu < 4 || lv < 4) return {kStreet.b + n, kStreet.g + n, kStreet.r + n, kStreet.n + n};
    const int64_t lot = (lu - 4) / 14 * 2 + (lv - 4) / 14;
    const int64_t ou = (lu - 4) % 14, ov = (lv - 4) % 14;
    const int64_t kind = lattice(seed_, 61, bu * 4 + lot, bv) * 8 / kOne;
    const bool building = kind < 6 && ou >= 2 && ou < 12 && ov >= 2 && ov < 12;
    Colour c = !building ? kGarden : kind < 3 ? kRoofRed : kind < 5 ? kRoofGrey : kRoofDark;
    return {c.b + n, c.g + n, c.r + n, c.n + n};
  }

  bool inForest(int64_t u, int64_t v) const {
    // Inside where the squared distance from the centre, in forest radii, is
    // below a noisy threshold: a compact but ragged forest.
    const int64_t du = u - kForestX, dv = v - kForestY;
    const int64_t q = (du * du + dv * dv) * kOne / (kForestR * kForestR);
    return q < kOne / 4 + fbm(seed_, 70, u, v, 150) * 3 / 4;
  }

  // Tree crowns: bright where a crown is lit, dark in the gaps between crowns.
  Colour forest(int64_t x, int64_t y) const {
    const int64_t crowns =
        (3 * valueNoise(seed_, 80, x, y, 5) + 2 * valueNoise(seed_, 81, x, y, 12)) / 5;
    const int64_t t = crowns * crowns / kOne * 2;  // emphasise the lit tops
    return lerp(kForestShade, kForestLit, t > kOne ? kOne : t);
  }

  const Parcel* parcelAt(int64_t u, int64_t v) const {
    for (const Parcel& p : parcels_)
      if (u >= p.x0 && u < p.x1 && v >= p.y0 && v < p.y1) return &p;
    return nullptr;
  }

  Colour field(int64_t x, int64_t y, int64_t u, int64_t v) const {
    // Parcels are looked up at warped coordinates: wavy, irregular edges.
    int64_t wu = u + (fbm(seed_, 90, u, v, 200) - kOne / 2) * 40 / kOne;
    int64_t wv = v + (fbm(seed_, 93, u, v, 200) - kOne / 2) * 40 / kOne;
    wu = wu < 0 ? 0 : wu > 1023 ? 1023 : wu;
    wv = wv < 0 ? 0 : wv > 1023 ? 1023 : wv;
    const Parcel* p = parcelAt(wu, wv);
    if (p == nullptr) return kHedge;
    const int64_t n = jitter(seed_, 100, x, y, 3);
    // Hedges along the parcel edges, 3 units wide.
    const int64_t edge =
        std::min(std::min(wu - p->x0, p->x1 - 1 - wu), std::min(wv - p->y0, p->y1 - 1 - wv));
    if (edge < 3) {
      const int64_t t = valueNoise(seed_, 101, x, y, 4);
      return lerp(kForestShade, kHedge, kOne / 2 + t / 2);
    }
    // Rows: a triangle wave across the row direction, 0 .. kOne.
    const int64_t along = (x * p->dy - y * p->dx) % (p->period * 1024);
    const int64_t phase =
        (along < 0 ? along + p->period * 1024 : along) * kOne / (p->period * 1024);
    const int64_t rows = std::llabs(2 * phase - kOne);
    const int64_t patch = fbm(seed_, 110, x, y, 64);  // within-field variation
    Colour c{};
    switch (p->crop) {
      case Crop::kWheat:  // ripe: yellow-brown, moderate NIR, fine rows
        c = lerp(Colour{96, 132, 152, 118}, Colour{82, 112, 128, 100}, rows);
        break;
      case Crop::kMaize:  // green rows over dark soil: strong texture in NIR
        c = lerp(Colour{44, 96, 52, 196}, Colour{70, 80, 96, 96}, rows * rows / kOne);
        break;
      case Crop::kSoil:  // ploughed: brown furrows, low NIR
        c = lerp(Colour{86, 98, 124, 100}, Colour{58, 66, 86, 70}, rows);
        break;
      case Crop::kRapeseed:  // flowering: bright yellow, high NIR, faint rows
        c = lerp(Colour{52, 176, 190, 168}, Colour{48, 150, 160, 150}, rows / 3);
        break;
      case Crop::kMeadow:  // no rows, fine grass texture
        c = lerp(Colour{48, 104, 62, 158}, Colour{60, 118, 80, 176},
                 valueNoise(seed_, 120, x, y, 3));
        break;
      case Crop::kOrchard: {  // crowns on an 8-pixel grid over grass
        const int64_t gx = x % 8 - 4, gy = y % 8 - 4;
        const bool tree = gx * gx + gy * gy <= 6;
        c = tree ? Colour{30, 64, 32, 180} : Colour{56, 108, 72, 150};
        break;
      }
      case Crop::kWoodlot:
        return forest(x, y);
    }
    c = scale(c, p->brightness * (kOne * 92 / 100 + patch * 16 / 100) / kOne);
    return {c.b + n, c.g + n, c.r + n, c.n + n};
  }

  int64_t size_;
  uint64_t seed_;
  std::vector<Parcel> parcels_;
};

uint8_t clampByte(int64_t v) { return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v); }

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s OUT.tif [--size N] [--seed S]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return usage(argv[0]);
  const std::string out = argv[1];
  long long size = 1024;
  unsigned long long seed = 1;
  for (int i = 2; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    char* end = nullptr;
    const unsigned long long v = std::strtoull(argv[i + 1], &end, 10);
    if (end == argv[i + 1] || *end != '\0') return usage(argv[0]);
    if (k == "--size")
      size = static_cast<long long>(v);
    else if (k == "--seed")
      seed = v;
    else
      return usage(argv[0]);
  }
  if (size < 64 || size > 16384) {
    std::fprintf(stderr, "--size must be between 64 and 16384\n");
    return 2;
  }

  const Scene scene(size, seed);
  const size_t n = static_cast<size_t>(size) * static_cast<size_t>(size);
  std::vector<uint8_t> pixels(4 * n);  // band-sequential
  for (int64_t y = 0; y < size; ++y) {
    for (int64_t x = 0; x < size; ++x) {
      const Colour c = scene.pixel(x, y);
      const size_t i = static_cast<size_t>(y * size + x);
      pixels[i] = clampByte(c.b);
      pixels[n + i] = clampByte(c.g);
      pixels[2 * n + i] = clampByte(c.r);
      pixels[3 * n + i] = clampByte(c.n);
    }
  }

  GDALAllRegister();
  GDALDriver* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
  if (gtiff == nullptr) {
    std::fprintf(stderr, "GDAL has no GTiff driver\n");
    return 1;
  }
  // Uncompressed: nothing in the file then depends on the zlib in use.
  char** options = CSLSetNameValue(nullptr, "TILED", "YES");
  options = CSLSetNameValue(options, "INTERLEAVE", "PIXEL");
  GDALDataset* ds = gtiff->Create(out.c_str(), static_cast<int>(size), static_cast<int>(size), 4,
                                  GDT_Byte, options);
  CSLDestroy(options);
  if (ds == nullptr) return 1;  // GDAL has printed why
  double geotransform[6] = {Scene::kOriginX, Scene::kPixel, 0, Scene::kOriginY, 0, -Scene::kPixel};
  ds->SetGeoTransform(geotransform);
  OGRSpatialReference srs;
  srs.importFromEPSG(32633);
  ds->SetSpatialRef(&srs);
  ds->SetMetadataItem("VITFEAT_SCENE", ("synthetic, seed " + std::to_string(seed)).c_str());
  // Band names, colour roles and centre wavelengths (micrometres, as GDAL 3.10's
  // IMAGERY domain has them; vitfeat's wavelength-conditioned encoders read them).
  const char* names[4] = {"blue", "green", "red", "nir"};
  const GDALColorInterp roles[4] = {GCI_BlueBand, GCI_GreenBand, GCI_RedBand, GCI_Undefined};
  const char* wavelengths[4] = {"0.49", "0.56", "0.665", "0.842"};
  for (int b = 0; b < 4; ++b) {
    GDALRasterBand* band = ds->GetRasterBand(b + 1);
    band->SetDescription(names[b]);
    band->SetColorInterpretation(roles[b]);
    band->SetMetadataItem("CENTRAL_WAVELENGTH_UM", wavelengths[b], "IMAGERY");
  }
  const CPLErr err = ds->RasterIO(GF_Write, 0, 0, static_cast<int>(size), static_cast<int>(size),
                                  pixels.data(), static_cast<int>(size), static_cast<int>(size),
                                  GDT_Byte, 4, nullptr, 0, 0, 0, nullptr);
  GDALClose(ds);
  if (err != CE_None) return 1;

  std::printf("wrote %s (%lld x %lld pixels of 10 m, 4 bands: blue, green, red, nir; seed %llu)\n",
              out.c_str(), size, size, seed);
  // Reference points, map coordinates in EPSG:32633, one per land cover.
  std::printf("point water %.0f,%.0f\n", scene.mapX(kLakeX), scene.mapY(kLakeY));
  std::printf("point forest %.0f,%.0f\n", scene.mapX(kForestX), scene.mapY(kForestY));
  return 0;
}
