// Locations of the shared test data (../shared beside the checkout, or
// $VITFEAT_SHARED_DIR) and a temporary folder that cleans itself up.
#pragma once

#include <cpl_error.h>

#include <string>
#include <vector>

namespace vitfeat::test {

std::string sharedDir();
// ../shared/fixtures/timm/<name>
std::string timmFixture(const std::string& name);

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs in another current folder while it lives (relative paths as a user
// in that folder would give them).
class InFolder {
 public:
  explicit InFolder(const std::string& folder);
  ~InFolder();
  InFolder(const InFolder&) = delete;
  InFolder& operator=(const InFolder&) = delete;

 private:
  char* previous_;
};

// Collects the warnings raised while it lives (and keeps them off the console).
class Warnings {
 public:
  Warnings();
  ~Warnings();
  Warnings(const Warnings&) = delete;
  Warnings& operator=(const Warnings&) = delete;
  size_t count() const { return messages_.size(); }
  const std::vector<std::string>& list() const { return messages_; }
  std::string messages() const;

 private:
  std::vector<std::string> messages_;
};

// Keeps expected CPLErrors off the console, starting from a clean error state;
// CPLGetLastErrorMsg() still has the last one.
class ExpectErrors {
 public:
  ExpectErrors() {
    CPLErrorReset();
    CPLPushErrorHandler(CPLQuietErrorHandler);
  }
  ~ExpectErrors() { CPLPopErrorHandler(); }
  ExpectErrors(const ExpectErrors&) = delete;
  ExpectErrors& operator=(const ExpectErrors&) = delete;
};

// Sets a GDAL config option process-wide (CPLConfigOptionSetter sets it for the
// calling thread only, which the driver's worker threads do not see) and puts
// the previous value back.
class ScopedConfig {
 public:
  ScopedConfig(const char* key, const char* value);
  ~ScopedConfig();
  ScopedConfig(const ScopedConfig&) = delete;
  ScopedConfig& operator=(const ScopedConfig&) = delete;

 private:
  std::string key_;
  bool had_ = false;
  std::string old_;
};

}  // namespace vitfeat::test
