// The reference plugin's remote-sensing encoders against ../shared/fixtures/rs:
// SSL4EO-S12 MoCo-v3 ViT-S/16 from its MoCo training checkpoint (13 and 11
// bands) and DOFA with its wavelength-generated patch embedding.
#include <cpl_error.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "models/encoder_factory.h"
#include "models/rs_encoders.h"
#include "models/state_dict.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"
#include "tests/support/npy.h"

using namespace vitfeat;
using vitfeat::test::ExpectErrors;
using vitfeat::test::loadNpy;
using vitfeat::test::TempDir;

namespace {

constexpr double kTolerance = 1e-4;
const std::vector<double> kDofaWavelengths{0.49, 0.56, 0.665, 0.832};  // B2, B3, B4, B8

std::string rsFixture(const std::string& name) {
  return vitfeat::test::sharedDir() + "/fixtures/rs/" + name;
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

EncoderOptions cpuOptions(int in_chans = 0, std::vector<double> wavelengths = {}) {
  EncoderOptions o;
  o.device = "cpu";
  o.num_threads = 2;
  o.in_chans = in_chans;
  o.wavelengths = std::move(wavelengths);
  return o;
}

// The checkpoint of a fixture folder; where it stands for a link to its base's
// file (a small text file holding the target path), a temp folder with the
// config.json and a real symlink takes its place.
std::string checkpoint(const std::string& name, const TempDir& tmp) {
  namespace fs = std::filesystem;
  const fs::path dir = rsFixture(name);
  const fs::path file = dir / "checkpoint.pth";
  if (fs::is_symlink(file) || fs::file_size(file) > 1024) return file.string();
  std::ifstream in(file);
  std::string target;
  std::getline(in, target);
  const fs::path resolved = fs::weakly_canonical(dir / target);
  REQUIRE(fs::exists(resolved));
  fs::copy_file(dir / "config.json", fs::path(tmp.path()) / "config.json");
  fs::create_symlink(resolved, fs::path(tmp.path()) / "checkpoint.pth");
  return tmp.file("checkpoint.pth");
}

std::unique_ptr<Encoder> openCpu(const std::string& spec, const EncoderOptions& o) {
  auto enc = openEncoder(spec, o);
  INFO(CPLGetLastErrorMsg());
  REQUIRE(enc);
  return enc;
}

}  // namespace

TEST_CASE("rs: SSL4EO-S12 MoCo ViT-S/16 matches the plugin", "[shared][rs][parity]") {
  const auto [name, bands] = GENERATE(table<std::string, int>(
      {{"ssl4eo_moco_depth2_dim128", 13}, {"ssl4eo_moco_depth2_dim128_in11", 11}}));
  TempDir tmp;
  const auto enc = openCpu(checkpoint(name, tmp), cpuOptions(bands));
  CHECK(enc->info().in_chans == bands);
  CHECK(enc->info().num_prefix_tokens == 1);
  CHECK(enc->info().patch_size == 16);
  CHECK(enc->info().input_height == 224);
  const std::string dir = rsFixture(name);
  const torch::Tensor got = enc->forward(loadNpy(dir + "/input.npy"));
  const double diff = maxAbsDiff(got, loadNpy(dir + "/patch_grid.npy"));
  std::cout << "parity rs " << name << " patch_grid: max |diff| = " << diff << "\n";
  CHECK(diff < kTolerance);
}

TEST_CASE("rs: DOFA matches the plugin for bands B2, B3, B4, B8", "[shared][rs][parity]") {
  const std::string dir = rsFixture("dofa_depth2_dim64");
  const auto enc = openCpu(dir + "/checkpoint.pth", cpuOptions(4, kDofaWavelengths));
  CHECK(enc->info().in_chans == 4);
  CHECK(enc->info().embed_dim == 64);
  const torch::Tensor input = loadNpy(dir + "/input.npy");
  const torch::Tensor expected = loadNpy(dir + "/patch_grid.npy");
  const double diff = maxAbsDiff(enc->forward(input), expected);
  std::cout << "parity rs dofa_depth2_dim64 patch_grid: max |diff| = " << diff << "\n";
  CHECK(diff < kTolerance);

  SECTION("other wavelengths give other features") {
    const auto other = openCpu(dir + "/checkpoint.pth", cpuOptions(4, {0.44, 0.49, 0.56, 0.665}));
    CHECK(maxAbsDiff(other->forward(input), expected) > 0.1);
  }
}

TEST_CASE("rs: DOFA without wavelengths is refused with how to give them", "[shared][rs]") {
  ExpectErrors quiet;
  const std::string dir = rsFixture("dofa_depth2_dim64");
  CHECK_FALSE(openEncoder(dir + "/checkpoint.pth", cpuOptions(4)));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("wavelength"));
  CHECK_FALSE(openEncoder(dir + "/checkpoint.pth", cpuOptions(3, kDofaWavelengths)));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("4 wavelengths"));
}

TEST_CASE("rs: the release layouts are recognised from the keys", "[shared][rs]") {
  const auto moco = readStateDict(rsFixture("ssl4eo_moco_depth2_dim128") + "/checkpoint.pth");
  REQUIRE(moco);
  CHECK(detectRsEncoder("", *moco) == RsEncoderKind::ssl4eo_moco);
  const auto dofa = readStateDict(rsFixture("dofa_depth2_dim64") + "/checkpoint.pth");
  REQUIRE(dofa);
  CHECK(detectRsEncoder("", *dofa) == RsEncoderKind::dofa);

  SECTION("without config.json a truncated model's heads are unknown: refused") {
    TempDir tmp;
    std::filesystem::create_symlink(rsFixture("ssl4eo_moco_depth2_dim128") + "/checkpoint.pth",
                                    tmp.file("checkpoint.pth"));
    ExpectErrors quiet;
    CHECK_FALSE(openEncoder(tmp.file("checkpoint.pth"), cpuOptions(13)));
    CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("heads"));
  }
}

TEST_CASE("rs: first-conv channels are cycled, not rescaled", "[rs]") {
  const torch::Tensor w = torch::arange(2 * 13 * 2 * 2, torch::kFloat32).reshape({2, 13, 2, 2});
  const torch::Tensor eleven = cycleInputChannels(w, 11);
  CHECK(eleven.sizes() == torch::IntArrayRef({2, 11, 2, 2}));
  CHECK(torch::equal(eleven, w.narrow(1, 0, 11)));
  const torch::Tensor fifteen = cycleInputChannels(w, 15);
  CHECK(torch::equal(fifteen.narrow(1, 13, 2), w.narrow(1, 0, 2)));
  CHECK(torch::equal(fifteen.narrow(1, 0, 13), w));
}

TEST_CASE("rs: DOFA wavelengths from Sentinel-2 band numbers, as the plugin does", "[rs]") {
  std::vector<double> got;
  for (int n : {2, 3, 4, 8}) got.push_back(dofaSentinel2Wavelength(n).value_or(-1));
  CHECK(got == kDofaWavelengths);
  CHECK(dofaSentinel2Wavelength(12).value_or(-1) == 2.2);
  CHECK_FALSE(dofaSentinel2Wavelength(0));
  CHECK_FALSE(dofaSentinel2Wavelength(13));
}

TEST_CASE("rs: the encoder family can be forced", "[shared][rs]") {
  const std::string moco = rsFixture("ssl4eo_moco_depth2_dim128") + "/checkpoint.pth";
  const std::string dofa = rsFixture("dofa_depth2_dim64") + "/checkpoint.pth";
  ExpectErrors quiet;
  EncoderOptions o = cpuOptions(4, kDofaWavelengths);
  o.encoder = "dofa";
  CHECK(openEncoder(dofa, o));
  o.encoder = "ssl4eo_moco";
  CHECK_FALSE(openEncoder(dofa, o));  // no MoCo ViT in a DOFA checkpoint
  o.encoder = "timm";
  CHECK_FALSE(openEncoder(dofa, o));
  o.encoder = "dofa";
  CHECK_FALSE(openEncoder(moco, o));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("not a dofa"));
  o.encoder = "mae";
  CHECK_FALSE(openEncoder(moco, o));
  CHECK_THAT(CPLGetLastErrorMsg(), Catch::Contains("unknown encoder family 'mae'"));
}
