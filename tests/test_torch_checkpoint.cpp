// readTorchCheckpoint / readStateDict on torch.save files: ones written by
// LibTorch itself (always), and real Python torch.save output when Debian's
// python3-torch is installed (else those tests warn and pass).

#include <cpl_error.h>
#include <cpl_vsi.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/state_dict.h"
#include "tests/support/catch_torch.h"
#include "tests/support/fixtures.h"

using vitfeat::test::ExpectErrors;

namespace {

using vitfeat::readStateDict;
using vitfeat::readTorchCheckpoint;
using vitfeat::StateDict;
using vitfeat::test::TempDir;

constexpr const char* kPython = "/usr/bin/python3";

void writeFile(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

void writeFile(const std::string& path, const std::string& text) {
  writeFile(path, std::vector<char>(text.begin(), text.end()));
}

std::vector<float> values(const torch::Tensor& t) {
  REQUIRE(t.scalar_type() == torch::kFloat32);
  REQUIRE(t.is_contiguous());
  const float* p = t.data_ptr<float>();
  return std::vector<float>(p, p + t.numel());
}

// Every Python-written checkpoint the tests read. One state dict in several
// dtypes, saved plain, nested, with extras that exercise the pickle rewriting
// (one-item dicts and lists: SETITEM/APPEND; big ints: short LONG1; a tied
// tensor: memo references), as a real module's state_dict (with _metadata
// and views into shared storage), with a Python object, and in the legacy format.
constexpr const char* kMakeCheckpoints = R"(
import argparse, collections, sys, torch
out = sys.argv[1]
sd = collections.OrderedDict()
sd["blocks.0.w"] = torch.tensor([[1.5, -2.0], [0.25, 3.0]])
sd["half"] = torch.tensor([0.5, -4.0], dtype=torch.float16)
sd["bf16"] = torch.tensor([1.5, -0.25], dtype=torch.bfloat16)
sd["double"] = torch.tensor([0.125], dtype=torch.float64)
sd["bn.num_batches_tracked"] = torch.tensor(7)
torch.save(sd, out + "/plain.pth")
torch.save({"epoch": 3, "state_dict": sd, "optimizer": {"lr": 0.1}, "steps": 2**40,
            "min": -2**35, "tags": ["x"]}, out + "/nested.pth")
tied = collections.OrderedDict(sd)
tied["head.weight"] = tied["blocks.0.w"]
torch.save({"model": tied, "args": ["--lr", "0.1"]}, out + "/model.bin")
torch.save({"state_dict": sd, "args": argparse.Namespace(lr=0.1)}, out + "/object.pth")
torch.save(sd, out + "/legacy.pth", _use_new_zipfile_serialization=False)

m = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LayerNorm(3))
with torch.no_grad():
    m[0].weight.copy_(torch.arange(6.0).reshape(3, 2) / 4)
    m[0].bias.fill_(-1.0)
msd = m.state_dict()
base = torch.arange(12.0).reshape(3, 4)
msd["view.t"] = base.t()
msd["view.slice"] = base[1, 1:3]
torch.save(msd, out + "/module.pth")
)";

// The folder holding kMakeCheckpoints' output, written once per process;
// nullptr (after a WARN) when Python cannot import torch.
const TempDir* pythonCheckpoints() {
  static const std::unique_ptr<TempDir> dir = []() -> std::unique_ptr<TempDir> {
    const std::string probe = std::string(kPython) + " -c 'import torch' >/dev/null 2>&1";
    if (std::system(probe.c_str()) != 0) return nullptr;
    auto d = std::make_unique<TempDir>();
    writeFile(d->file("make.py"), std::string(kMakeCheckpoints));
    const std::string cmd = std::string(kPython) + " " + d->file("make.py") + " " + d->path();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    return d;
  }();
  if (!dir) WARN("skipped: " << kPython << " cannot import torch (apt-get install python3-torch)");
  return dir.get();
}

void checkStateDict(const StateDict& sd) {
  CHECK(sd.size() == 4);  // the int64 counter is skipped
  CHECK(sd.count("bn.num_batches_tracked") == 0);
  REQUIRE(sd.count("blocks.0.w") == 1);
  CHECK(sd.at("blocks.0.w").sizes() == torch::IntArrayRef({2, 2}));
  CHECK(values(sd.at("blocks.0.w")) == std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f});
  REQUIRE(sd.count("half") == 1);
  CHECK(values(sd.at("half")) == std::vector<float>{0.5f, -4.0f});
  REQUIRE(sd.count("bf16") == 1);
  CHECK(values(sd.at("bf16")) == std::vector<float>{1.5f, -0.25f});
  REQUIRE(sd.count("double") == 1);
  CHECK(values(sd.at("double")) == std::vector<float>{0.125f});
}

}  // namespace

TEST_CASE("torch checkpoint: a LibTorch pickle_save dict loads", "[checkpoint]") {
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("a.weight", torch::tensor({1.5f, -2.0f, 0.25f}).reshape({3, 1}));
  dict.insert("a.bias", torch::tensor({0.5}, torch::kFloat64));
  dict.insert("steps", torch::tensor({3}, torch::kInt64));
  const TempDir dir;
  const std::string path = dir.file("cpp.pt");
  writeFile(path, torch::jit::pickle_save(c10::IValue(dict)));

  for (auto* read : {&readTorchCheckpoint, &readStateDict}) {
    const auto sd = read(path);
    REQUIRE(sd.has_value());
    CHECK(sd->size() == 2);
    CHECK(sd->at("a.weight").sizes() == torch::IntArrayRef({3, 1}));
    CHECK(values(sd->at("a.weight")) == std::vector<float>{1.5f, -2.0f, 0.25f});
    CHECK(values(sd->at("a.bias")) == std::vector<float>{0.5f});
  }
}

TEST_CASE("torch checkpoint: reads through /vsimem/", "[checkpoint]") {
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("w", torch::tensor({0.25f, 4.0f}));
  const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(dict));
  const std::string path = "/vsimem/test_torch_checkpoint/w.pt";
  VSILFILE* f =
      VSIFileFromMemBuffer(path.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                           bytes.size(), /*bTakeOwnership=*/FALSE);
  REQUIRE(f != nullptr);
  VSIFCloseL(f);
  const auto sd = readStateDict(path);
  VSIUnlink(path.c_str());
  REQUIRE(sd.has_value());
  CHECK(values(sd->at("w")) == std::vector<float>{0.25f, 4.0f});
}

TEST_CASE("torch checkpoint: a zip that is not a state dict is refused", "[checkpoint]") {
  const TempDir dir;
  SECTION("a list of tensors") {
    const std::string path = dir.file("list.pt");
    writeFile(path, torch::jit::pickle_save(c10::IValue(c10::List<at::Tensor>({torch::ones(2)}))));
    const ExpectErrors quiet;
    CHECK_FALSE(readTorchCheckpoint(path).has_value());
    const std::string msg = CPLGetLastErrorMsg();
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("expected a dict of tensors") != std::string::npos);
  }
  SECTION("a damaged archive") {
    const std::string path = dir.file("damaged.pth");
    std::vector<char> bytes =
        torch::jit::pickle_save(c10::IValue(c10::Dict<std::string, at::Tensor>()));
    bytes.resize(bytes.size() / 2);  // cuts off the zip's central directory
    writeFile(path, bytes);
    const ExpectErrors quiet;
    CHECK_FALSE(readStateDict(path).has_value());
    const std::string msg = CPLGetLastErrorMsg();
    INFO(msg);
    CHECK(CPLGetLastErrorType() == CE_Failure);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("LibTorch could not read it") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);  // no C++ backtrace in the message
  }
}

TEST_CASE("torch checkpoint: a legacy pickle is refused with how to convert it", "[checkpoint]") {
  // What torch.save(..., _use_new_zipfile_serialization=False) starts with:
  // PROTO 2, then the pickled magic number 0x1950a86a20f9469cfc6c.
  const std::string legacy("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  const TempDir dir;
  const std::string path = dir.file("old.pth");
  writeFile(path, legacy);
  for (auto* read : {&readTorchCheckpoint, &readStateDict}) {
    const ExpectErrors quiet;
    CHECK_FALSE(read(path).has_value());
    const std::string msg = CPLGetLastErrorMsg();
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("legacy") != std::string::npos);
    CHECK(msg.find("_use_new_zipfile_serialization=True") != std::string::npos);
    CHECK(msg.find("safetensors.torch.save_file") != std::string::npos);
  }
}

TEST_CASE("torch checkpoint: a file that is not a zip is refused", "[checkpoint]") {
  const TempDir dir;
  const std::string path = dir.file("text.pth");
  writeFile(path, std::string("hello"));
  const ExpectErrors quiet;
  CHECK_FALSE(readTorchCheckpoint(path).has_value());
  const std::string msg = CPLGetLastErrorMsg();
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("not a torch.save zip archive") != std::string::npos);
}

TEST_CASE("torch checkpoint: Python torch.save state dicts load", "[checkpoint][python]") {
  const TempDir* dir = pythonCheckpoints();
  if (!dir) return;
  SECTION("a plain OrderedDict") {
    const auto sd = readTorchCheckpoint(dir->file("plain.pth"));
    REQUIRE(sd.has_value());
    checkStateDict(*sd);
  }
  SECTION("nested under \"state_dict\"") {
    const auto sd = readStateDict(dir->file("nested.pth"));
    REQUIRE(sd.has_value());
    checkStateDict(*sd);
  }
  SECTION("nested under \"model\", with a tied tensor") {
    auto sd = readStateDict(dir->file("model.bin"));
    REQUIRE(sd.has_value());
    REQUIRE(sd->count("head.weight") == 1);
    CHECK(values(sd->at("head.weight")) == std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f});
    sd->erase("head.weight");
    checkStateDict(*sd);
  }
}

TEST_CASE("torch checkpoint: a real nn.Module state_dict loads", "[checkpoint][python]") {
  const TempDir* dir = pythonCheckpoints();
  if (!dir) return;
  const auto sd = readStateDict(dir->file("module.pth"));
  REQUIRE(sd.has_value());
  CHECK(sd->size() == 6);
  CHECK(sd->at("0.weight").sizes() == torch::IntArrayRef({3, 2}));
  CHECK(values(sd->at("0.weight")) == std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1, 1.25f});
  CHECK(values(sd->at("0.bias")) == std::vector<float>{-1, -1, -1});
  CHECK(values(sd->at("1.weight")) == std::vector<float>{1, 1, 1});
  CHECK(sd->at("view.t").sizes() == torch::IntArrayRef({4, 3}));
  CHECK(values(sd->at("view.t")) == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(values(sd->at("view.slice")) == std::vector<float>{5, 6});
}

TEST_CASE("torch checkpoint: a Python object in a checkpoint is refused, not run",
          "[checkpoint][python]") {
  const TempDir* dir = pythonCheckpoints();
  if (!dir) return;
  const std::string path = dir->file("object.pth");
  const ExpectErrors quiet;
  CHECK_FALSE(readStateDict(path).has_value());
  const std::string msg = CPLGetLastErrorMsg();
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("argparse.Namespace") != std::string::npos);
}

TEST_CASE("torch checkpoint: Python's legacy format is refused with a hint",
          "[checkpoint][python]") {
  const TempDir* dir = pythonCheckpoints();
  if (!dir) return;
  const std::string path = dir->file("legacy.pth");
  const ExpectErrors quiet;
  CHECK_FALSE(readStateDict(path).has_value());
  const std::string msg = CPLGetLastErrorMsg();
  INFO(msg);
  CHECK(CPLGetLastErrorType() == CE_Failure);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("torch.save(torch.load(") != std::string::npos);
  CHECK(msg.find("_use_new_zipfile_serialization=True") != std::string::npos);
}
