#include "tests/support/fixtures.h"

#include <cpl_conv.h>
#include <cpl_vsi.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace vitfeat::test {

std::string sharedDir() {
  if (const char* env = std::getenv("VITFEAT_SHARED_DIR")) return env;
  return VITFEAT_SHARED_DIR;
}

std::string timmFixture(const std::string& name) { return sharedDir() + "/fixtures/timm/" + name; }

TempDir::TempDir() {
  namespace fs = std::filesystem;
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path p = fs::temp_directory_path() / ("vitfeat-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

// Through GDAL, not std::filesystem::remove_all: pip's CUDA LibTorch (2.11)
// exports its own copy of that symbol, which crashed every test on such a build.
TempDir::~TempDir() { VSIRmdirRecursive(path_.c_str()); }

namespace {

void CPL_STDCALL collectWarning(CPLErr level, CPLErrorNum, const char* text) {
  if (level == CE_Warning)
    static_cast<std::vector<std::string>*>(CPLGetErrorHandlerUserData())->push_back(text);
}

}  // namespace

Warnings::Warnings() { CPLPushErrorHandlerEx(&collectWarning, &messages_); }

Warnings::~Warnings() { CPLPopErrorHandler(); }

std::string Warnings::messages() const {
  std::string all;
  for (const std::string& m : messages_) all += m + "\n";
  return all;
}

InFolder::InFolder(const std::string& folder) : previous_(CPLGetCurrentDir()) {
  if (chdir(folder.c_str()) != 0) {
    CPLFree(previous_);
    throw std::runtime_error("cannot enter " + folder);
  }
}

InFolder::~InFolder() {
  if (previous_ && chdir(previous_) != 0) std::abort();
  CPLFree(previous_);
}

ScopedConfig::ScopedConfig(const char* key, const char* value) : key_(key) {
  if (const char* old = CPLGetConfigOption(key, nullptr)) {
    had_ = true;
    old_ = old;
  }
  CPLSetConfigOption(key, value);
}

ScopedConfig::~ScopedConfig() { CPLSetConfigOption(key_.c_str(), had_ ? old_.c_str() : nullptr); }

}  // namespace vitfeat::test
