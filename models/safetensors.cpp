// safetensors reader. The layout is: an 8-byte little-endian header length N,
// N bytes of JSON {"key": {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {...}}, then the data, offsets relative to its first byte.
// Nothing in the header is trusted: every length, offset and shape is checked
// against the file size before any byte is read or any tensor is allocated.

#include <cpl_error.h>
#include <cpl_json.h>
#include <cpl_port.h>
#include <cpl_vsi.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "models/state_dict.h"

namespace vitfeat {
namespace {

// The reference implementation's limit: a header this large is an attack or
// a corrupt file, and parsing it would cost memory for nothing.
constexpr std::uint64_t kMaxHeaderBytes = 100u * 1024u * 1024u;
constexpr const char* kSupported = "F32, F16, BF16";

struct VsiCloser {
  void operator()(VSILFILE* f) const { VSIFCloseL(f); }
};
using VsiFile = std::unique_ptr<VSILFILE, VsiCloser>;

// Silences GDAL while a call whose own error we replace runs (CPLJSONDocument
// reports parse errors itself, without the file name).
class QuietErrors {
 public:
  QuietErrors() { CPLPushErrorHandler(CPLQuietErrorHandler); }
  ~QuietErrors() { CPLPopErrorHandler(); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;
};

void fileError(const std::string& path, const std::string& what) {
  CPLError(CE_Failure, CPLE_AppDefined, "safetensors %s: %s", path.c_str(), what.c_str());
}

void keyError(const std::string& path, const std::string& key, const std::string& what) {
  CPLError(CE_Failure, CPLE_AppDefined, "safetensors %s: tensor '%s': %s", path.c_str(),
           key.c_str(), what.c_str());
}

// One tensor's header entry, validated against the data size.
struct Entry {
  std::string key;
  torch::ScalarType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
};

// The spec's dtypes we know but do not load: named as "unsupported" rather
// than "unknown" so the message tells the user what the file actually holds.
bool isKnownUnsupportedDtype(const std::string& name) {
  static const char* const kOthers[] = {
      "F64",  "I64",     "U64",     "I32",     "U32",     "I16",     "U16", "I8", "U8",
      "BOOL", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",  "C64"};
  return std::find_if(std::begin(kOthers), std::end(kOthers),
                      [&](const char* o) { return name == o; }) != std::end(kOthers);
}

std::optional<torch::ScalarType> parseDtype(const std::string& path, const std::string& key,
                                            const CPLJSONObject& obj) {
  if (obj.GetType() != CPLJSONObject::Type::String) {
    keyError(path, key, "\"dtype\" is missing or not a string");
    return std::nullopt;
  }
  const std::string name = obj.ToString();
  if (name == "F32") return torch::kFloat32;
  if (name == "F16") return torch::kFloat16;
  if (name == "BF16") return torch::kBFloat16;
  if (isKnownUnsupportedDtype(name)) {
    keyError(path, key,
             "dtype " + name + " is not supported (supported: " + kSupported +
                 "); convert the checkpoint's weights to floating point");
  } else {
    keyError(path, key, "unknown dtype '" + name + "' (supported: " + kSupported + ")");
  }
  return std::nullopt;
}

bool isJsonInteger(const CPLJSONObject& obj) {
  const auto t = obj.GetType();
  return t == CPLJSONObject::Type::Integer || t == CPLJSONObject::Type::Long;
}

// Reads a JSON array of non-negative integers; nullopt (with an error naming
// `field`) if it is anything else.
std::optional<std::vector<std::int64_t>> parseIndices(const std::string& path,
                                                      const std::string& key,
                                                      const CPLJSONObject& obj, const char* field) {
  if (obj.GetType() != CPLJSONObject::Type::Array) {
    keyError(path, key, std::string("\"") + field + "\" is missing or not an array");
    return std::nullopt;
  }
  const CPLJSONArray arr = obj.ToArray();
  std::vector<std::int64_t> out;
  out.reserve(static_cast<size_t>(arr.Size()));
  for (int i = 0; i < arr.Size(); ++i) {
    const CPLJSONObject v = arr[i];
    // json-c saturates out-of-range integers to INT64_MAX, which the bounds
    // checks below then reject, so no overflowed value gets through.
    if (!isJsonInteger(v) || v.ToLong() < 0) {
      keyError(path, key,
               std::string("\"") + field + "\" must hold non-negative integers, got " +
                   v.Format(CPLJSONObject::PrettyFormat::Plain));
      return std::nullopt;
    }
    out.push_back(v.ToLong());
  }
  return out;
}

std::optional<Entry> parseEntry(const std::string& path, const CPLJSONObject& obj,
                                std::uint64_t dataSize) {
  const std::string key = obj.GetName();
  if (obj.GetType() != CPLJSONObject::Type::Object) {
    keyError(path, key, "header entry is not a JSON object");
    return std::nullopt;
  }
  const auto dtype = parseDtype(path, key, obj.GetObj("dtype"));
  if (!dtype) return std::nullopt;
  auto shape = parseIndices(path, key, obj.GetObj("shape"), "shape");
  if (!shape) return std::nullopt;
  const auto offsets = parseIndices(path, key, obj.GetObj("data_offsets"), "data_offsets");
  if (!offsets) return std::nullopt;
  if (offsets->size() != 2) {
    keyError(path, key, "\"data_offsets\" must be [begin, end]");
    return std::nullopt;
  }
  const auto begin = static_cast<std::uint64_t>((*offsets)[0]);
  const auto end = static_cast<std::uint64_t>((*offsets)[1]);
  if (begin > end) {
    keyError(path, key,
             "data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    return std::nullopt;
  }
  if (end > dataSize) {
    keyError(path, key,
             "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                 "] run past the data section (" + std::to_string(dataSize) + " bytes)");
    return std::nullopt;
  }
  // Multiply with an overflow guard. A zero dim makes the tensor empty whatever
  // the others are, so a wrapped-around product can't pass as an empty one.
  const std::uint64_t elemSize = torch::elementSize(*dtype);
  const bool empty = std::find(shape->begin(), shape->end(), 0) != shape->end();
  std::uint64_t bytes = empty ? 0 : elemSize;
  bool tooLarge = false;
  for (size_t i = 0; !empty && i < shape->size(); ++i) {
    const auto d = static_cast<std::uint64_t>((*shape)[i]);
    if (bytes > std::numeric_limits<std::uint64_t>::max() / d) {
      tooLarge = true;
      break;
    }
    bytes *= d;
  }
  if (tooLarge || bytes != end - begin) {
    std::string dims;
    for (const std::int64_t d : *shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    keyError(path, key,
             "shape [" + dims + "] of " + obj.GetObj("dtype").ToString() + " needs " +
                 (tooLarge ? std::string("over 2^64 bytes") : std::to_string(bytes) + " bytes") +
                 " but data_offsets span " + std::to_string(end - begin));
    return std::nullopt;
  }
  return Entry{key, *dtype, std::move(*shape), begin, end};
}

// The spec requires the data section to be covered exactly, with no overlaps
// and no gaps (so a file cannot hide a second payload, and no byte is read
// twice). Overlaps are certainly corrupt; gaps and trailing bytes are refused
// too, as the reference implementation does, rather than silently ignored.
bool checkCoverage(const std::string& path, std::vector<Entry>& entries, std::uint64_t dataSize) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  std::uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered) {
      keyError(path, e.key,
               "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                   "] overlap tensor '" + prev->key + "'");
      return false;
    }
    if (e.begin > covered) {
      keyError(path, e.key,
               "gap of " + std::to_string(e.begin - covered) + " bytes before data_offsets [" +
                   std::to_string(e.begin) + ", " + std::to_string(e.end) + "]" +
                   " (the format requires contiguous tensors)");
      return false;
    }
    covered = e.end;
    prev = &e;
  }
  if (covered != dataSize) {
    fileError(path, std::to_string(dataSize - covered) +
                        " bytes after the last tensor are not covered by any data_offsets");
    return false;
  }
  return true;
}

void swapToHostOrder(torch::Tensor& t) {
#if !CPL_IS_LSB
  // The file is little-endian; all dtypes read here are 2 or 4 bytes wide.
  auto* p = static_cast<std::uint8_t*>(t.data_ptr());
  const size_t width = t.element_size();
  for (size_t i = 0; i < static_cast<size_t>(t.numel()); ++i, p += width) {
    std::reverse(p, p + width);
  }
#else
  (void)t;
#endif
}

std::optional<torch::Tensor> readTensor(const std::string& path, VSILFILE* f,
                                        std::uint64_t dataStart, const Entry& e) {
  torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
  const size_t bytes = static_cast<size_t>(e.end - e.begin);
  if (bytes > 0) {
    if (VSIFSeekL(f, static_cast<vsi_l_offset>(dataStart + e.begin), SEEK_SET) != 0 ||
        VSIFReadL(t.data_ptr(), 1, bytes, f) != bytes) {
      keyError(path, e.key,
               "could not read " + std::to_string(bytes) + " bytes at offset " +
                   std::to_string(dataStart + e.begin) + " (truncated file?)");
      return std::nullopt;
    }
  }
  swapToHostOrder(t);
  return t.to(torch::kFloat32).contiguous();
}

// Reads and checks the 8-byte length prefix, then the JSON header itself.
std::optional<std::string> readHeader(const std::string& path, VSILFILE* f,
                                      std::uint64_t fileSize) {
  if (fileSize < 8) {
    fileError(path, "file is " + std::to_string(fileSize) +
                        " bytes, too short for the 8-byte header length (truncated file?)");
    return std::nullopt;
  }
  GByte prefix[8];
  if (VSIFReadL(prefix, 1, 8, f) != 8) {
    fileError(path, "could not read the header length");
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];
  if (n > fileSize - 8) {
    fileError(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                        std::to_string(fileSize) + " bytes; truncated or not safetensors?)");
    return std::nullopt;
  }
  if (n > kMaxHeaderBytes) {
    fileError(path, "header length " + std::to_string(n) + " exceeds the " +
                        std::to_string(kMaxHeaderBytes) + "-byte limit");
    return std::nullopt;
  }
  std::string header(static_cast<size_t>(n), '\0');
  if (n > 0 && VSIFReadL(header.data(), 1, header.size(), f) != header.size()) {
    fileError(path, "could not read the " + std::to_string(n) + "-byte header");
    return std::nullopt;
  }
  return header;
}

}  // namespace

std::optional<StateDict> readSafetensors(const std::string& path) {
  VSIStatBufL stat;
  if (VSIStatL(path.c_str(), &stat) != 0) {
    fileError(path, "cannot stat file (does it exist?)");
    return std::nullopt;
  }
  const VsiFile file(VSIFOpenL(path.c_str(), "rb"));
  if (!file) {
    fileError(path, "cannot open file");
    return std::nullopt;
  }
  const auto fileSize = static_cast<std::uint64_t>(stat.st_size);
  const auto header = readHeader(path, file.get(), fileSize);
  if (!header) return std::nullopt;

  CPLJSONDocument doc;
  std::string jsonError = "empty";
  {
    const QuietErrors quiet;
    CPLErrorReset();
    if (!header->empty()) {
      jsonError = doc.LoadMemory(*header) ? "" : CPLGetLastErrorMsg();
    }
  }
  if (!jsonError.empty()) {
    fileError(path, "header is not valid JSON (" + jsonError + ")");
    return std::nullopt;
  }
  const CPLJSONObject root = doc.GetRoot();
  if (root.GetType() != CPLJSONObject::Type::Object) {
    fileError(path, "header is not a JSON object");
    return std::nullopt;
  }

  const std::uint64_t dataStart = 8 + header->size();
  const std::uint64_t dataSize = fileSize - dataStart;
  std::vector<Entry> entries;
  // GetChildren (not operator[]) because CPLJSONObject treats '/' in a name as
  // a path separator, and tensor keys are arbitrary strings.
  for (const CPLJSONObject& child : root.GetChildren()) {
    if (child.GetName() == "__metadata__") continue;  // free-form strings; nothing to load
    auto entry = parseEntry(path, child, dataSize);
    if (!entry) return std::nullopt;
    entries.push_back(std::move(*entry));
  }
  if (!checkCoverage(path, entries, dataSize)) return std::nullopt;

  StateDict out;
  for (const Entry& e : entries) {
    auto t = readTensor(path, file.get(), dataStart, e);
    if (!t) return std::nullopt;
    out.emplace(e.key, std::move(*t));
  }
  return out;
}

}  // namespace vitfeat
