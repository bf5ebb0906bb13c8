// SHA-256 (FIPS 180-4), to record which weights produced a feature raster.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace vitfeat {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::array<uint8_t, 32> digest();  // finishes; call once
  static std::string hex(const std::array<uint8_t, 32>& d);

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t used_ = 0;
  uint64_t length_ = 0;
};

// Hex digest of a file read through VSI; nullopt if it cannot be read.
std::optional<std::string> sha256File(const std::string& path);

}  // namespace vitfeat
