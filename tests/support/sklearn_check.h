// Cross-checks against scikit-learn for the math tests: data and results are
// written as raw little-endian arrays to a temporary folder, and
// tests/python/check_sklearn.py compares them with scikit-learn. Header-only so
// that the math tests need no LibTorch-linked support library.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace vitfeat::test {

// Debian's interpreter, which python3-sklearn installs into, whatever python3
// comes first on PATH (a virtual environment would lack scikit-learn).
inline const char* kDebianPython = "/usr/bin/python3";

// A fresh folder under the temporary directory, removed with its contents.
class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vitfeat_math_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

template <typename T>
void writeRaw(const std::filesystem::path& file, const T* data, size_t count) {
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

inline void writeText(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

struct CommandResult {
  int status = -1;  // exit status, -1 when it did not exit normally
  std::string output;
};

inline CommandResult runCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t got = 0;
  while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, got);
  const int raw = pclose(pipe);
  if (raw != -1 && WIFEXITED(raw)) result.status = WEXITSTATUS(raw);
  return result;
}

// Empty when /usr/bin/python3 with numpy and scikit-learn is there, else why not.
inline std::string sklearnMissing() {
  if (access(kDebianPython, X_OK) != 0) return std::string(kDebianPython) + " not found";
  const CommandResult probe =
      runCommand(std::string(kDebianPython) + " -c 'import numpy, sklearn'");
  if (probe.status != 0) {
    return "scikit-learn is not importable by " + std::string(kDebianPython) +
           " (apt-get install python3-sklearn): " + probe.output;
  }
  return "";
}

// Runs tests/python/check_sklearn.py <mode> <folder>; status 0 means agreement.
inline CommandResult runSklearnCheck(const std::string& mode, const std::filesystem::path& folder) {
  const std::string script = std::string(VITFEAT_SOURCE_DIR) + "/tests/python/check_sklearn.py";
  // One BLAS thread: the comparison is small, and OpenBLAS's threads on a busy
  // machine (ctest runs tests in parallel) make it minutes instead of a second.
  return runCommand("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 " + std::string(kDebianPython) +
                    " '" + script + "' " + mode + " '" + folder.string() + "'");
}

}  // namespace vitfeat::test
