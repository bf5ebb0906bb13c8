#include "tests/support/fixtures.h"

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

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace vitfeat::test
