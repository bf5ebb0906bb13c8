// torch.save checkpoints (PyTorch's zip format). They are read with LibTorch's
// own unpickler, which only rebuilds tensors and plain containers and refuses
// arbitrary globals, so loading a checkpoint runs no code from the file; the
// legacy (pre-1.6) raw-pickle format has no such reader and is refused.
//
// LibTorch 1.13's unpickler cannot build a collections.OrderedDict (it turns
// one into None, pytorch/pytorch#37213 and #100741), yet every
// module.state_dict() is one; nor does it know a few opcodes Python writes
// for one-item dicts and lists. So data.pkl is first rewritten, opcode by
// opcode, into the subset LibTorch reads: each `OrderedDict()` becomes an
// empty dict, BUILD (setting the OrderedDict's _metadata attribute) drops its
// argument, SETITEM/APPEND become their MARK...SETITEMS/APPENDS forms, and
// short LONG1 integers are widened. Globals are left alone, so LibTorch still
// decides which classes are allowed (tensors, storages, nothing else).

#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <vector>

#include "models/state_dict.h"

namespace vitfeat {
namespace {

using torch::jit::PickleOpCode;

// Containers in which training scripts commonly nest the state dict.
constexpr std::array<const char*, 2> kNestingKeys = {"state_dict", "model"};

struct VsiCloser {
  void operator()(VSILFILE* f) const { VSIFCloseL(f); }
};
using VsiFile = std::unique_ptr<VSILFILE, VsiCloser>;

void fail(const std::string& path, const std::string& what) {
  CPLError(CE_Failure, CPLE_AppDefined, "torch checkpoint %s: %s", path.c_str(), what.c_str());
}

std::string legacyPickleHint(const std::string& path) {
  return "this is a legacy (non-zip) torch.save pickle, which cannot be read safely. "
         "Convert it in Python with: torch.save(torch.load('" +
         path + "'), 'out.pth', _use_new_zipfile_serialization=True)" +
         " or save it as safetensors: safetensors.torch.save_file(torch.load('" + path +
         "'), 'out.safetensors')";
}

// Lets PyTorchStreamReader read the zip through GDAL's VSI layer (so /vsi
// paths work), record by record rather than the whole file at once.
class VsiReadAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  VsiReadAdapter(VsiFile file, std::uint64_t size) : file_(std::move(file)), size_(size) {}
  size_t size() const override { return static_cast<size_t>(size_); }
  size_t read(std::uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    const std::lock_guard<std::mutex> lock(mutex_);  // seek + read must stay paired
    if (VSIFSeekL(file_.get(), static_cast<vsi_l_offset>(pos), SEEK_SET) != 0) return 0;
    return VSIFReadL(buf, 1, n, file_.get());
  }

 private:
  VsiFile file_;
  std::uint64_t size_;
  mutable std::mutex mutex_;
};

// ---- Pickle opcode rewriting ------------------------------------------------

// One opcode and its argument, as a span of the pickle.
struct Op {
  PickleOpCode code;
  size_t begin;     // the opcode byte
  size_t argBegin;  // its argument
  size_t end;       // one past the argument
};

std::uint64_t littleEndian(const std::vector<char>& p, size_t at, size_t width) {
  std::uint64_t v = 0;
  for (size_t i = width; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(p[at + i]);
  return v;
}

// Opcodes of pickle protocols 0-3 (torch.save writes protocol 2) by the shape
// of their argument.
constexpr std::string_view kNoArg = "(.012NQRabd}el]ost)u\x81\x85\x86\x87\x88\x89";
constexpr std::string_view kOneByte = "Khq\x80\x82";
constexpr std::string_view kTwoBytes = "M\x83";
constexpr std::string_view kFourBytes = "Jjr\x84";
constexpr std::string_view kEightBytes = "G";
constexpr std::string_view kOneLine = "FILPSVgp";  // text up to '\n'
constexpr std::string_view kTwoLines = "ci";       // GLOBAL, INST: module\nname\n
constexpr std::string_view kLength1 = "UC\x8a";    // 1-byte length, then data
constexpr std::string_view kLength4 = "TXB\x8b";   // 4-byte length, then data

// The length of opcode `c`'s argument starting at `at`, or nullopt when the
// opcode is unknown or the argument runs past the end.
std::optional<size_t> argLength(const std::vector<char>& p, char c, size_t at) {
  const size_t left = p.size() - at;
  const auto in = [c](std::string_view set) { return set.find(c) != std::string_view::npos; };
  const auto fixed = [&](size_t n) { return left >= n ? std::optional<size_t>(n) : std::nullopt; };
  const auto line = [&](size_t from) -> std::optional<size_t> {
    const void* nl = std::memchr(p.data() + from, '\n', p.size() - from);
    if (!nl) return std::nullopt;
    return static_cast<size_t>(static_cast<const char*>(nl) - (p.data() + from)) + 1;
  };
  const auto prefixed = [&](size_t width) -> std::optional<size_t> {
    if (left < width) return std::nullopt;
    const std::uint64_t n = littleEndian(p, at, width);
    if (n > left - width) return std::nullopt;
    return width + static_cast<size_t>(n);
  };
  if (in(kNoArg)) return 0;
  if (in(kOneByte)) return fixed(1);
  if (in(kTwoBytes)) return fixed(2);
  if (in(kFourBytes)) return fixed(4);
  if (in(kEightBytes)) return fixed(8);
  if (in(kOneLine)) return line(at);
  if (in(kLength1)) return prefixed(1);
  if (in(kLength4)) return prefixed(4);
  if (in(kTwoLines)) {
    const auto first = line(at);
    if (!first) return std::nullopt;
    const auto second = line(at + *first);
    if (!second) return std::nullopt;
    return *first + *second;
  }
  return std::nullopt;
}

// Splits the pickle into opcodes up to STOP; nullopt (with `error` set) if it
// is malformed or uses protocol 4+ opcodes.
std::optional<std::vector<Op>> tokenize(const std::vector<char>& p, std::string& error) {
  std::vector<Op> ops;
  size_t pos = 0;
  while (pos < p.size()) {
    const auto code = static_cast<PickleOpCode>(p[pos]);
    const auto len = argLength(p, p[pos], pos + 1);
    if (!len) {
      error =
          std::string(CPLSPrintf("unknown or truncated pickle opcode 0x%02x at byte %zu",
                                 static_cast<unsigned>(static_cast<unsigned char>(p[pos])), pos)) +
          " (protocols 0-3 are read; torch.save writes 2 by default)";
      return std::nullopt;
    }
    ops.push_back(Op{code, pos, pos + 1, pos + 1 + *len});
    pos = ops.back().end;
    if (code == PickleOpCode::STOP) return ops;
  }
  error = "pickle ends without STOP";
  return std::nullopt;
}

bool isPut(const Op& op) {
  return op.code == PickleOpCode::BINPUT || op.code == PickleOpCode::LONG_BINPUT ||
         op.code == PickleOpCode::PUT;
}

bool isGet(const Op& op) {
  return op.code == PickleOpCode::BINGET || op.code == PickleOpCode::LONG_BINGET ||
         op.code == PickleOpCode::GET;
}

// The memo index of a PUT or GET.
std::uint64_t memoIndex(const std::vector<char>& p, const Op& op) {
  const size_t n = op.end - op.argBegin;
  if (op.code == PickleOpCode::PUT || op.code == PickleOpCode::GET) {
    return std::strtoull(std::string(p.data() + op.argBegin, n - 1).c_str(), nullptr, 10);
  }
  return littleEndian(p, op.argBegin, n);
}

std::string_view argText(const std::vector<char>& p, const Op& op) {
  return std::string_view(p.data() + op.argBegin, op.end - op.argBegin);
}

// How each opcode changes the unpickler's stack (protocols 0-3).
constexpr std::string_view kPushesOne = "NIJKMLFGSTUVXBC\x8a\x8b}])cghjP\x82\x83\x84\x88\x89";
constexpr std::string_view kNoStackEffect = "pqr\x80.";
constexpr std::string_view kMarkToOne = "tldio";  // TUPLE LIST DICT INST OBJ
constexpr std::string_view kMarkToNone = "eu1";   // APPENDS SETITEMS POP_MARK

// How many stack items opcode `c` folds into the lowest of them (REDUCE:
// callable, args -> result; SETITEM: dict, key, value -> dict), or 0.
size_t foldCount(char c) {
  switch (static_cast<PickleOpCode>(c)) {
    case PickleOpCode::TUPLE1:
    case PickleOpCode::BINPERSID:
      return 1;
    case PickleOpCode::TUPLE2:
    case PickleOpCode::REDUCE:
    case PickleOpCode::NEWOBJ:
    case PickleOpCode::BUILD:
    case PickleOpCode::APPEND:
      return 2;
    case PickleOpCode::TUPLE3:
    case PickleOpCode::SETITEM:
      return 3;
    default:
      return 0;
  }
}

// LibTorch 1.13 knows SETITEMS and APPENDS but not their one-item forms
// SETITEM and APPEND, which Python writes for one-entry dicts and lists. So
// each of those gets a MARK before its key (item), found by replaying the
// stack with, for every item, the index of the op where it begins. Returns
// how many MARKs go before each op.
std::optional<std::vector<int>> marksForSingleItems(const std::vector<char>& p,
                                                    const std::vector<Op>& ops,
                                                    std::string& error) {
  std::vector<size_t> stack;                     // first op of each item
  std::vector<std::pair<size_t, size_t>> marks;  // stack size and op of each MARK
  std::vector<int> marksBefore(ops.size(), 0);
  const auto popToMark = [&]() -> std::optional<size_t> {
    if (marks.empty() || marks.back().first > stack.size()) return std::nullopt;
    const size_t markOp = marks.back().second;
    stack.resize(marks.back().first);
    marks.pop_back();
    return markOp;
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    const char c = p[ops[i].begin];
    const auto in = [c](std::string_view set) { return set.find(c) != std::string_view::npos; };
    const size_t fold = foldCount(c);
    if (in(kPushesOne) || c == static_cast<char>(PickleOpCode::DUP)) {
      stack.push_back(i);
    } else if (c == static_cast<char>(PickleOpCode::MARK)) {
      marks.emplace_back(stack.size(), i);
    } else if (in(kMarkToOne) || in(kMarkToNone)) {
      const auto markOp = popToMark();
      if (!markOp) break;
      if (in(kMarkToOne)) stack.push_back(*markOp);
    } else if (fold > 0 && stack.size() >= fold) {
      if (c == static_cast<char>(PickleOpCode::SETITEM)) ++marksBefore[stack[stack.size() - 2]];
      if (c == static_cast<char>(PickleOpCode::APPEND)) ++marksBefore[stack.back()];
      stack.resize(stack.size() - fold + 1);
    } else if (c == static_cast<char>(PickleOpCode::POP) && !stack.empty()) {
      stack.pop_back();
    } else if (!in(kNoStackEffect)) {
      break;
    }
    if (i + 1 == ops.size()) return marksBefore;
  }
  error = "malformed pickle (stack underflow)";
  return std::nullopt;
}

// LibTorch's unpickler grows its memo table to the index a PUT names, so one
// damaged or crafted 4-byte index would make it allocate tens of gigabytes.
// Python numbers the memo from 0, one slot per PUT, so no valid index reaches
// the number of opcodes.
bool checkMemoIndices(const std::vector<char>& p, const std::vector<Op>& ops, std::string& error) {
  for (const Op& op : ops) {
    if (!isPut(op)) continue;
    const std::uint64_t index = memoIndex(p, op);
    if (index >= ops.size()) {
      error = "memo index " + std::to_string(index) + " of the PUT at byte " +
              std::to_string(op.begin) + " is out of range (the pickle has " +
              std::to_string(ops.size()) + " opcodes): the file is damaged";
      return false;
    }
  }
  return true;
}

// Rewrites the pickle as described at the top. Python pickles `OrderedDict()` as <class> [PUT k]
// EMPTY_TUPLE REDUCE, where <class> is the GLOBAL the first time and a GET of memo k afterwards.
std::optional<std::vector<char>> rewritePickle(const std::vector<char>& p, std::string& error) {
  const auto ops = tokenize(p, error);
  if (!ops || !checkMemoIndices(p, *ops, error)) return std::nullopt;
  const auto marksBefore = marksForSingleItems(p, *ops, error);
  if (!marksBefore) return std::nullopt;
  std::set<std::uint64_t> odictMemo;  // memo slots holding the OrderedDict class
  std::vector<char> out;
  out.reserve(p.size());
  const auto emit = [&](const Op& op) {
    out.insert(out.end(), p.begin() + op.begin, p.begin() + op.end);
  };
  const auto emitCode = [&](PickleOpCode c) { out.push_back(static_cast<char>(c)); };
  // LibTorch reads only 8-byte LONG1s; Python writes the shortest form (e.g.
  // 5 bytes for 2**32), so sign-extend those to 8.
  const auto emitLong1 = [&](const Op& op) {
    const size_t n = op.end - op.argBegin - 1;
    if (n > 8) return emit(op);  // LibTorch will refuse it
    const char fill = n > 0 && (p[op.end - 1] & 0x80) ? '\xff' : '\0';
    emitCode(PickleOpCode::LONG1);
    out.push_back(8);
    out.insert(out.end(), p.begin() + op.argBegin + 1, p.begin() + op.end);
    out.insert(out.end(), 8 - n, fill);
  };

  for (size_t i = 0; i < ops->size(); ++i) {
    const Op& op = (*ops)[i];
    out.insert(out.end(), (*marksBefore)[i], static_cast<char>(PickleOpCode::MARK));
    const bool odictClass =
        (op.code == PickleOpCode::GLOBAL && argText(p, op) == "collections\nOrderedDict\n") ||
        (isGet(op) && odictMemo.count(memoIndex(p, op)) > 0);
    if (odictClass) {
      size_t j = i + 1;
      const Op* put = j < ops->size() && isPut((*ops)[j]) ? &(*ops)[j++] : nullptr;
      if (j + 1 >= ops->size() || (*ops)[j].code != PickleOpCode::EMPTY_TUPLE ||
          (*ops)[j + 1].code != PickleOpCode::REDUCE) {
        error = "unsupported use of collections.OrderedDict at byte " + std::to_string(op.begin);
        return std::nullopt;
      }
      emitCode(PickleOpCode::EMPTY_DICT);
      if (put) {
        // The class's memo slot must still be filled, or LibTorch would number
        // later slots wrongly; the dict stands in, as no GET of it survives.
        emit(*put);
        odictMemo.insert(memoIndex(p, *put));
      }
      i = j + 1;
      continue;
    }
    if (isPut(op)) odictMemo.erase(memoIndex(p, op));
    if (op.code == PickleOpCode::BUILD) {
      // obj state BUILD -> obj: the state is an OrderedDict's attributes
      // (_metadata); any other object was already refused at its GLOBAL.
      // LibTorch has no POP, but its NEWOBJ is exactly that (it drops the
      // top of the stack, expecting the empty tuple of cls.__new__).
      emitCode(PickleOpCode::NEWOBJ);
      continue;
    }
    if (op.code == PickleOpCode::SETITEM || op.code == PickleOpCode::APPEND) {
      emitCode(op.code == PickleOpCode::SETITEM ? PickleOpCode::SETITEMS : PickleOpCode::APPENDS);
      continue;
    }
    if (op.code == PickleOpCode::LONG1) {
      emitLong1(op);
      continue;
    }
    emit(op);
  }
  return out;
}

// ---- From IValues to a StateDict --------------------------------------------

// Descends into {"state_dict": {...}} or {"model": {...}} when the top level
// is such a wrapper, so full training checkpoints load as well.
c10::Dict<c10::IValue, c10::IValue> unwrapStateDict(c10::Dict<c10::IValue, c10::IValue> dict) {
  for (const char* name : kNestingKeys) {
    const auto it = dict.find(c10::IValue(std::string(name)));
    if (it != dict.end() && it->value().isGenericDict()) {
      return unwrapStateDict(it->value().toGenericDict());
    }
  }
  return dict;
}

// The bytes each storage record read from the zip really holds, by the
// address of its data. LibTorch 1.13 trusts the element count the pickle
// states for a storage and the sizes, strides and offset it states for a
// tensor, without comparing them with the record: a damaged or crafted
// checkpoint would make the tensor read past its memory.
using RecordBytes = std::map<const void*, size_t>;

// Why tensor t (of key) reads past its storage, or "" when it does not.
std::string storageProblem(const std::string& key, const at::Tensor& t,
                           const RecordBytes& records) {
  if (t.numel() == 0) return {};
  const c10::Storage& storage = t.storage();
  size_t available = storage.nbytes();
  const auto record = records.find(storage.data());
  if (record != records.end()) available = std::min(available, record->second);
  // The last element the tensor reads, in elements from the storage's start.
  int64_t last = t.storage_offset();
  bool overflow = last < 0;
  for (int64_t d = 0; d < t.dim() && !overflow; ++d) {
    int64_t step = 0;
    overflow = t.stride(d) < 0 || __builtin_mul_overflow(t.size(d) - 1, t.stride(d), &step) ||
               __builtin_add_overflow(last, step, &last);
  }
  uint64_t needed = 0;
  overflow = overflow || __builtin_mul_overflow(static_cast<uint64_t>(last) + 1,
                                                static_cast<uint64_t>(t.element_size()), &needed);
  if (!overflow && needed <= available) return {};
  return "tensor '" + key + "' of shape " + c10::str(t.sizes()) + " (storage offset " +
         std::to_string(t.storage_offset()) + ", strides " + c10::str(t.strides()) + ") needs " +
         (overflow ? std::string("more than 2^63") : std::to_string(needed)) +
         " bytes of its storage, which holds " + std::to_string(available) +
         " bytes: the file is damaged";
}

std::optional<StateDict> toStateDict(const std::string& path, const c10::IValue& value,
                                     const RecordBytes& records) {
  if (!value.isGenericDict()) {
    fail(path, std::string("expected a dict of tensors (a state dict), found ") + value.tagKind() +
                   " (a TorchScript archive is a model, not a state dict)");
    return std::nullopt;
  }
  StateDict out;
  for (const auto& item : unwrapStateDict(value.toGenericDict())) {
    if (!item.key().isString()) {
      fail(path, "a state dict key is " + item.key().tagKind() + ", not a string");
      return std::nullopt;
    }
    const std::string key = item.key().toStringRef();
    const c10::IValue& v = item.value();
    // Integer buffers (BatchNorm's num_batches_tracked) and non-tensor
    // entries (epoch numbers, optimizer settings) are no weights of ours; the
    // model loader reports a key it needed that is not here.
    if (!v.isTensor() || !at::isFloatingType(v.toTensor().scalar_type())) {
      CPLDebug("VITFEAT", "%s: skipping '%s' (%s)", path.c_str(), key.c_str(),
               v.isTensor() ? c10::toString(v.toTensor().scalar_type()) : v.tagKind().c_str());
      continue;
    }
    const std::string problem = storageProblem(key, v.toTensor(), records);
    if (!problem.empty()) {
      fail(path, problem);
      return std::nullopt;
    }
    out.emplace(key, v.toTensor().to(torch::kCPU, torch::kFloat32).contiguous());
  }
  return out;
}

// Reads data.pkl (rewritten) and the tensors it refers to. Throws c10::Error
// on what LibTorch refuses; returns nullopt after a CPLError on the rest.
std::optional<c10::IValue> unpickleArchive(const std::string& path,
                                           caffe2::serialize::PyTorchStreamReader& zip,
                                           RecordBytes& records) {
  const auto [record, size] = zip.getRecord("data.pkl");
  const auto* bytes = static_cast<const char*>(record.get());
  std::string error;
  const auto pickle = rewritePickle(std::vector<char>(bytes, bytes + size), error);
  if (!pickle) {
    fail(path, "data.pkl: " + error);
    return std::nullopt;
  }
  size_t pos = 0;
  const auto reader = [&](char* buf, size_t n) -> size_t {
    const size_t k = std::min(n, pickle->size() - pos);
    std::memcpy(buf, pickle->data() + pos, k);
    pos += k;
    return k;
  };
  const auto readRecord = [&](const std::string& name) {
    auto record = zip.getRecord("data/" + name);
    records[std::get<0>(record).get()] = std::get<1>(record);
    return std::move(std::get<0>(record));
  };
  // No type resolver or object loader: any class other than tensors,
  // storages and containers is refused. Tensors saved on a GPU land on the CPU.
  torch::jit::Unpickler unpickler(reader, nullptr, nullptr, readRecord, at::Device(at::kCPU));
  unpickler.set_version(zip.version());
  return unpickler.parse_ivalue();
}

std::optional<std::shared_ptr<VsiReadAdapter>> openArchive(const std::string& path) {
  VSIStatBufL stat;
  if (VSIStatL(path.c_str(), &stat) != 0) {
    fail(path, "cannot stat file (does it exist?)");
    return std::nullopt;
  }
  VsiFile file(VSIFOpenL(path.c_str(), "rb"));
  if (!file) {
    fail(path, "cannot open file");
    return std::nullopt;
  }
  std::array<unsigned char, 4> magic{};
  const size_t got = VSIFReadL(magic.data(), 1, magic.size(), file.get());
  if (got >= 1 && magic[0] == 0x80) {  // pickle's PROTO opcode
    fail(path, legacyPickleHint(path));
    return std::nullopt;
  }
  if (got != magic.size() || std::memcmp(magic.data(), "PK\x03\x04", 4) != 0) {
    fail(path, "not a torch.save zip archive (no PK\\x03\\x04 signature)");
    return std::nullopt;
  }
  return std::make_shared<VsiReadAdapter>(std::move(file),
                                          static_cast<std::uint64_t>(stat.st_size));
}

}  // namespace

std::optional<StateDict> readTorchCheckpoint(const std::string& path) {
  const auto adapter = openArchive(path);
  if (!adapter) return std::nullopt;
  try {
    caffe2::serialize::PyTorchStreamReader zip(*adapter);
    RecordBytes records;
    const auto value = unpickleArchive(path, zip, records);
    if (!value) return std::nullopt;
    return toStateDict(path, *value, records);
  } catch (const c10::Error& e) {
    // The first line is the message; the rest is a C++ backtrace.
    const std::string msg = e.what_without_backtrace();
    fail(path, "LibTorch could not read it: " + msg.substr(0, msg.find('\n')));
  } catch (const std::exception& e) {
    fail(path, std::string("LibTorch could not read it: ") + e.what());
  }
  return std::nullopt;
}

}  // namespace vitfeat
