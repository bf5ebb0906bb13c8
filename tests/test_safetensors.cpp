// readSafetensors on hand-built files: valid ones load with exact values, and
// every malformed one gives nullopt plus a CPLError naming the file and key.

#include <cpl_error.h>
#include <cpl_vsi.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "models/state_dict.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"

using vitfeat::test::ExpectErrors;

namespace {

using vitfeat::readSafetensors;
using vitfeat::readStateDict;
using vitfeat::test::TempDir;

std::string lengthPrefix(std::uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(static_cast<char>(n & 0xff));
  return out;
}

// 8-byte little-endian header length, the header, then the data section.
std::string safetensorsBytes(const std::string& header, const std::string& data) {
  return lengthPrefix(header.size()) + header + data;
}

void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

std::string f32Bytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());  // tests run on little-endian hosts
  return out;
}

std::string u16Bytes(const std::vector<std::uint16_t>& values) {
  std::string out;
  for (const std::uint16_t v : values) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
  }
  return out;
}

// Writes `bytes`, reads it back, and checks it is refused with a failure that
// names the file, `key` (if any) and `fragment`.
void requireRefused(const std::string& bytes, const std::string& key, const std::string& fragment) {
  const TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  writeFile(path, bytes);
  const ExpectErrors quiet;
  const auto sd = readSafetensors(path);
  const std::string msg = CPLGetLastErrorMsg();
  INFO("error: " << msg);
  CHECK_FALSE(sd.has_value());
  CHECK(CPLGetLastErrorType() == CE_Failure);
  CHECK(msg.find(path) != std::string::npos);
  if (!key.empty()) CHECK(msg.find("'" + key + "'") != std::string::npos);
  CHECK(msg.find(fragment) != std::string::npos);
}

// A single-tensor header: 'w' with the given fields spliced in verbatim.
std::string oneTensor(const std::string& fields) { return "{\"w\": {" + fields + "}}"; }

}  // namespace

TEST_CASE("safetensors: F32, F16 and BF16 tensors load as exact float32", "[safetensors]") {
  // F16: 1.5 = 0x3E00, -2.0 = 0xC000, 0.25 = 0x3400. BF16 is the top half of
  // the float32 pattern: 1.5 = 0x3FC0, -2.0 = 0xC000, 0.25 = 0x3E80.
  const std::string data = f32Bytes({1.5f, -2.0f, 0.25f, 3.0f, -0.5f, 8.0f}) +
                           u16Bytes({0x3E00, 0xC000, 0x3400}) + u16Bytes({0x3FC0, 0xC000, 0x3E80});
  const std::string header =
      R"({"__metadata__": {"format": "pt"},
          "a.f32": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
          "b/f16": {"dtype": "F16", "shape": [3], "data_offsets": [24, 30]},
          "c.bf16": {"dtype": "BF16", "shape": [1, 3], "data_offsets": [30, 36]}})";
  const TempDir dir;
  const std::string path = dir.file("ok.safetensors");
  writeFile(path, safetensorsBytes(header, data));

  const auto sd = readSafetensors(path);
  REQUIRE(sd.has_value());
  REQUIRE(sd->size() == 3);  // __metadata__ is not a tensor
  for (const auto& [key, t] : *sd) {
    INFO(key);
    CHECK(t.scalar_type() == torch::kFloat32);
    CHECK(t.is_contiguous());
    CHECK(t.device().is_cpu());
  }
  const torch::Tensor a = sd->at("a.f32");
  REQUIRE(a.sizes() == torch::IntArrayRef({2, 3}));
  CHECK(a[0][0].item<float>() == 1.5f);
  CHECK(a[0][1].item<float>() == -2.0f);
  CHECK(a[0][2].item<float>() == 0.25f);
  CHECK(a[1][0].item<float>() == 3.0f);
  CHECK(a[1][2].item<float>() == 8.0f);
  // '/' in a key must not be taken for a JSON path.
  const torch::Tensor b = sd->at("b/f16");
  REQUIRE(b.sizes() == torch::IntArrayRef({3}));
  CHECK(b[0].item<float>() == 1.5f);
  CHECK(b[1].item<float>() == -2.0f);
  CHECK(b[2].item<float>() == 0.25f);
  const torch::Tensor c = sd->at("c.bf16");
  REQUIRE(c.sizes() == torch::IntArrayRef({1, 3}));
  CHECK(c[0][0].item<float>() == 1.5f);
  CHECK(c[0][1].item<float>() == -2.0f);
  CHECK(c[0][2].item<float>() == 0.25f);
}

TEST_CASE("safetensors: scalars, empty tensors and an empty file are valid", "[safetensors]") {
  const std::string header =
      R"({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
          "e": {"dtype": "F16", "shape": [0, 5], "data_offsets": [4, 4]}})";
  const TempDir dir;
  writeFile(dir.file("a.safetensors"), safetensorsBytes(header, f32Bytes({-0.5f})));
  const auto sd = readSafetensors(dir.file("a.safetensors"));
  REQUIRE(sd.has_value());
  CHECK(sd->at("s").dim() == 0);
  CHECK(sd->at("s").item<float>() == -0.5f);
  CHECK(sd->at("e").sizes() == torch::IntArrayRef({0, 5}));

  writeFile(dir.file("empty.safetensors"), safetensorsBytes("{}", ""));
  const auto empty = readSafetensors(dir.file("empty.safetensors"));
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
}

TEST_CASE("safetensors: reads through /vsimem/ and readStateDict picks it", "[safetensors]") {
  const std::string bytes = safetensorsBytes(
      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", f32Bytes({0.25f, 4.0f}));
  const std::string path = "/vsimem/test_safetensors/x.bin";  // extension deliberately says nothing
  VSILFILE* f =
      VSIFileFromMemBuffer(path.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                           bytes.size(), /*bTakeOwnership=*/FALSE);
  REQUIRE(f != nullptr);
  VSIFCloseL(f);
  const auto direct = readSafetensors(path);
  const auto sniffed = readStateDict(path);
  VSIUnlink(path.c_str());
  REQUIRE(direct.has_value());
  REQUIRE(sniffed.has_value());
  CHECK(direct->at("w")[1].item<float>() == 4.0f);
  CHECK(sniffed->at("w")[0].item<float>() == 0.25f);
}

TEST_CASE("safetensors: file-level damage is refused with the file name", "[safetensors]") {
  SECTION("missing file") {
    const TempDir dir;
    const ExpectErrors quiet;
    CHECK_FALSE(readSafetensors(dir.file("nope.safetensors")).has_value());
    CHECK(std::string(CPLGetLastErrorMsg()).find("nope.safetensors") != std::string::npos);
  }
  SECTION("shorter than the length prefix") { requireRefused("\x10\x00\x00", "", "too short"); }
  SECTION("header length past the end of the file") {
    std::string bytes = safetensorsBytes("{}", "");
    bytes[0] = 100;
    requireRefused(bytes, "", "past the end");
  }
  SECTION("header length of 2^64-1") {
    requireRefused(std::string(8, '\xff') + "{}", "", "past the end");
  }
  SECTION("zero-length header") { requireRefused(safetensorsBytes("", ""), "", "not valid JSON"); }
  SECTION("header is not JSON") {
    // GDAL's parser message is kept: it says where the JSON breaks.
    requireRefused(safetensorsBytes("{\"w\": {\"dtype\": ", ""), "",
                   "not valid JSON (JSON parsing error");
  }
  SECTION("header is not an object") {
    requireRefused(safetensorsBytes("[1, 2, 3]", ""), "", "not a JSON object");
  }
  SECTION("truncated data section") {
    const std::string full =
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4], "data_offsets": [0, 16])"),
                         f32Bytes({1, 2, 3, 4}));
    requireRefused(full.substr(0, full.size() - 5), "w", "past the data section");
  }
  SECTION("bytes after the last tensor") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [1], "data_offsets": [0, 4])"),
                         f32Bytes({1, 2})),
        "", "4 bytes after the last tensor");
  }
}

TEST_CASE("safetensors: a header over 100 MB is refused before it is read", "[safetensors]") {
  // A sparse file, so the test costs no disk: the length is within the file
  // but beyond the limit.
  const TempDir dir;
  const std::string path = dir.file("huge.safetensors");
  const std::uint64_t n = 200ull * 1024 * 1024;
  writeFile(path, lengthPrefix(n) + "{");
  std::filesystem::resize_file(path, n + 8);
  const ExpectErrors quiet;
  CHECK_FALSE(readSafetensors(path).has_value());
  const std::string msg = CPLGetLastErrorMsg();
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("limit") != std::string::npos);
}

TEST_CASE("safetensors: malformed entries are refused naming file and key", "[safetensors]") {
  const std::string data16 = f32Bytes({1, 2, 3, 4});
  SECTION("entry is not an object") {
    requireRefused(safetensorsBytes(R"({"w": [0, 16]})", data16), "w", "not a JSON object");
  }
  SECTION("missing dtype") {
    requireRefused(safetensorsBytes(oneTensor(R"("shape": [4], "data_offsets": [0, 16])"), data16),
                   "w", "\"dtype\" is missing");
  }
  SECTION("missing shape") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "data_offsets": [0, 16])"), data16), "w",
        "\"shape\" is missing");
  }
  SECTION("missing data_offsets") {
    requireRefused(safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4])"), data16), "w",
                   "\"data_offsets\" is missing");
  }
  SECTION("unknown dtype") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F99", "shape": [4], "data_offsets": [0, 16])"),
                         data16),
        "w", "unknown dtype 'F99' (supported: F32, F16, BF16)");
  }
  SECTION("known but unsupported dtype") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F64", "shape": [2], "data_offsets": [0, 16])"),
                         data16),
        "w", "dtype F64 is not supported (supported: F32, F16, BF16)");
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "I64", "shape": [2], "data_offsets": [0, 16])"),
                         data16),
        "w", "dtype I64 is not supported");
  }
  SECTION("negative dimension") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [-4], "data_offsets": [0, 16])"),
                         data16),
        "w", "non-negative integers, got -4");
  }
  SECTION("fractional dimension") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4.5], "data_offsets": [0, 16])"),
                         data16),
        "w", "non-negative integers");
  }
  SECTION("data_offsets with three numbers") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4], "data_offsets": [0, 8, 16])"),
                         data16),
        "w", "must be [begin, end]");
  }
  SECTION("begin > end") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4], "data_offsets": [16, 0])"),
                         data16),
        "w", "begin 16 > end 0");
  }
  SECTION("negative offset") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4], "data_offsets": [-16, 0])"),
                         data16),
        "w", "non-negative integers, got -16");
  }
  SECTION("offsets out of range") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4], "data_offsets": [16, 32])"),
                         data16),
        "w", "[16, 32] run past the data section (16 bytes)");
  }
  SECTION("offset of 2^64-1") {
    requireRefused(safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4],
                                               "data_offsets": [0, 18446744073709551615])"),
                                    data16),
                   "w", "past the data section");
  }
  SECTION("offset beyond 64 bits") {
    requireRefused(safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4],
                                               "data_offsets": [0, 99999999999999999999999])"),
                                    data16),
                   "w", "data_offsets");
  }
  SECTION("shape does not match the byte count") {
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16])"),
                         data16),
        "w", "shape [2, 3] of F32 needs 24 bytes but data_offsets span 16");
    requireRefused(
        safetensorsBytes(oneTensor(R"("dtype": "F16", "shape": [4], "data_offsets": [0, 16])"),
                         data16),
        "w", "needs 8 bytes but data_offsets span 16");
  }
  SECTION("shape whose element count overflows 64 bits") {
    // 2^32 * 2^32 wraps to 0, which must not pass as an empty tensor.
    requireRefused(safetensorsBytes(oneTensor(R"("dtype": "F32", "shape": [4294967296, 4294967296],
                                   "data_offsets": [0, 0])"),
                                    data16.substr(0, 0)),
                   "w", "needs over 2^64 bytes");
  }
}

TEST_CASE("safetensors: overlaps and gaps between tensors are refused", "[safetensors]") {
  const std::string data = f32Bytes({1, 2, 3, 4});
  SECTION("overlap") {
    requireRefused(
        safetensorsBytes(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                         data),
        "b", "overlap tensor 'a'");
  }
  SECTION("two tensors on the same bytes") {
    requireRefused(
        safetensorsBytes(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                         data),
        "a", "overlap tensor 'b'");
  }
  SECTION("gap (the format requires contiguous coverage)") {
    requireRefused(safetensorsBytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                                    data),
                   "b", "gap of 4 bytes");
  }
}

TEST_CASE("safetensors: truncated and corrupted files never crash", "[safetensors]") {
  const std::string valid = safetensorsBytes(
      R"({"__metadata__": {"format": "pt"},
          "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
          "b": {"dtype": "BF16", "shape": [2], "data_offsets": [16, 20]}})",
      f32Bytes({1.5f, -2.0f, 0.25f, 3.0f}) + u16Bytes({0x3FC0, 0xC000}));
  const std::string path = "/vsimem/test_safetensors/fuzz.safetensors";
  const auto readBytes = [&](const std::string& bytes) {
    VSILFILE* f = VSIFileFromMemBuffer(path.c_str(),
                                       reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                                       bytes.size(), /*bTakeOwnership=*/FALSE);
    REQUIRE(f != nullptr);
    VSIFCloseL(f);
    const ExpectErrors quiet;
    const auto sd = readSafetensors(path);
    VSIUnlink(path.c_str());
    // Either it is refused with a message, or what loads is consistent.
    if (!sd) {
      CHECK(std::string(CPLGetLastErrorMsg()).find(path) != std::string::npos);
    } else {
      for (const auto& [key, t] : *sd) CHECK(t.scalar_type() == torch::kFloat32);
    }
    return sd.has_value();
  };
  REQUIRE(readBytes(valid));
  for (size_t n = 0; n < valid.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_FALSE(readBytes(valid.substr(0, n)));
  }
  std::mt19937 rng(42);  // fixed seed: failures reproduce
  std::uniform_int_distribution<size_t> pos(0, valid.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = valid;
    for (int k = 0; k <= i % 3; ++k) bytes[pos(rng)] = static_cast<char>(byte(rng));
    readBytes(bytes);
  }
}

TEST_CASE("readStateDict: a truncated safetensors file gets the safetensors error",
          "[safetensors]") {
  const std::string full = safetensorsBytes(
      R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", f32Bytes({1, 2, 3, 4}));
  const TempDir dir;
  const std::string path = dir.file("cut.safetensors");
  writeFile(path, full.substr(0, 20));  // cut inside the header
  const ExpectErrors quiet;
  CHECK_FALSE(readStateDict(path).has_value());
  const std::string msg = CPLGetLastErrorMsg();
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("safetensors") == 0);
  CHECK(msg.find("past the end of the file") != std::string::npos);
}

TEST_CASE("readStateDict: refuses what is neither safetensors nor torch.save", "[safetensors]") {
  const TempDir dir;
  const std::string path = dir.file("weights.txt");
  writeFile(path, "just some text, not a checkpoint");
  const ExpectErrors quiet;
  CHECK_FALSE(readStateDict(path).has_value());
  const std::string msg = CPLGetLastErrorMsg();
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("safetensors") != std::string::npos);
  CHECK(msg.find("torch.save") != std::string::npos);
}

TEST_CASE("safetensors: the timm vit_tiny_patch16_224 fixture loads", "[safetensors][shared]") {
  const std::string path =
      vitfeat::test::timmFixture("vit_tiny_patch16_224") + "/model.safetensors";
  const auto sd = readStateDict(path);
  REQUIRE(sd.has_value());
  CHECK(sd->size() == 150);  // 151 header entries, one of them __metadata__
  const torch::Tensor w = sd->at("patch_embed.proj.weight");
  CHECK(w.sizes() == torch::IntArrayRef({192, 3, 16, 16}));
  CHECK(w.scalar_type() == torch::kFloat32);
  // First two values as read by Python's struct module from the same file.
  CHECK(w[0][0][0][0].item<float>() == -0.015141692943871021f);
  CHECK(w[0][0][0][1].item<float>() == 0.0035461976658552885f);
  CHECK(sd->at("pos_embed").sizes() == torch::IntArrayRef({1, 197, 192}));
  CHECK(sd->at("cls_token").sizes() == torch::IntArrayRef({1, 1, 192}));
}
