#include "models/hub.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_http.h>
#include <cpl_multiproc.h>
#include <cpl_progress.h>
#include <cpl_string.h>
#include <cpl_vsi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <memory>
#include <random>
#include <vector>

#include "models/sha256.h"

namespace vitfeat {
namespace {

constexpr const char kHubPrefix[] = "hf-hub:";
constexpr const char kConfigName[] = "config.json";

// Weight files looked for in a folder, in this order: the safetensors file timm
// publishes first, then the pickled checkpoints older hub repositories (and
// open_clip) carry, then a plain torch.save()/TorchScript file.
constexpr std::array<const char*, 5> kWeightNames = {"model.safetensors", "pytorch_model.bin",
                                                     "open_clip_pytorch_model.bin", "model.pth",
                                                     "model.pt"};

// What a download fetches. config.json comes first: it is small, so a wrong
// repository name or a missing token fails before a large transfer starts.
constexpr std::array<const char*, 2> kDownloadNames = {kConfigName, "model.safetensors"};

// A config option (which falls back to the environment); empty when unset, so
// that setting an option to "" masks an environment variable.
std::string option(const char* key) {
  const char* value = CPLGetConfigOption(key, nullptr);
  return value ? value : "";
}

std::string joinPath(const std::string& dir, const std::string& name) {
  // CPLFormFilename returns a rotating static buffer: copy it at once.
  return CPLFormFilename(dir.c_str(), name.c_str(), nullptr);
}

bool isDirectory(const std::string& path) {
  VSIStatBufL st;
  return VSIStatL(path.c_str(), &st) == 0 && VSI_ISDIR(st.st_mode);
}

bool isFile(const std::string& path) {
  VSIStatBufL st;
  return VSIStatL(path.c_str(), &st) == 0 && VSI_ISREG(st.st_mode);
}

bool isReadable(const std::string& path) {
  VSILFILE* fp = VSIFOpenL(path.c_str(), "rb");
  if (fp == nullptr) return false;
  VSIFCloseL(fp);
  return true;
}

std::string joinNames(const char* const* begin, const char* const* end) {
  std::string out;
  for (auto it = begin; it != end; ++it) out += (out.empty() ? "" : ", ") + std::string(*it);
  return out;
}

// A name that can be used as one path component: no separators, no "..", and
// nothing a shell or another OS would trip over.
bool isSafeComponent(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Folders and files

// The model files in a folder, or nullopt (no error) when some are missing.
std::optional<ModelFiles> filesInFolder(const std::string& dir) {
  const std::string config = joinPath(dir, kConfigName);
  if (!isFile(config)) return std::nullopt;
  for (const char* name : kWeightNames) {
    const std::string weights = joinPath(dir, name);
    if (isFile(weights)) return ModelFiles{weights, config};
  }
  return std::nullopt;
}

std::optional<ModelFiles> resolveFolder(const std::string& dir) {
  if (auto files = filesInFolder(dir)) return files;
  const bool hasConfig = isFile(joinPath(dir, kConfigName));
  CPLError(CE_Failure, CPLE_OpenFailed,
           "Model folder %s is incomplete: it needs %s and one of (in this order) %s; %s",
           dir.c_str(), kConfigName, joinNames(kWeightNames.begin(), kWeightNames.end()).c_str(),
           hasConfig ? "no weight file was found" : "config.json is missing");
  return std::nullopt;
}

std::optional<ModelFiles> resolveFile(const std::string& path) {
  if (!isReadable(path)) {
    CPLError(CE_Failure, CPLE_OpenFailed, "Cannot read model file %s", path.c_str());
    return std::nullopt;
  }
  // A lone weight file may come with the hub's config.json beside it; without
  // one the loader falls back to what the weights themselves tell.
  const std::string config = joinPath(CPLGetPath(path.c_str()), kConfigName);
  return ModelFiles{path, isFile(config) ? config : std::string()};
}

// ---------------------------------------------------------------------------
// The hub cache (the huggingface_hub layout, so caches are shared with Python)

struct HubRepo {
  std::string org;
  std::string name;
  std::string id() const { return org + "/" + name; }
};

std::optional<HubRepo> splitHubRepo(const std::string& spec) {
  if (spec.compare(0, sizeof(kHubPrefix) - 1, kHubPrefix) != 0) return std::nullopt;
  const std::string id = spec.substr(sizeof(kHubPrefix) - 1);
  const auto slash = id.find('/');
  if (slash == std::string::npos) return std::nullopt;
  HubRepo repo{id.substr(0, slash), id.substr(slash + 1)};
  if (!isSafeComponent(repo.org) || !isSafeComponent(repo.name)) return std::nullopt;
  return repo;
}

std::string repoCacheDir(const std::string& root, const HubRepo& repo) {
  return joinPath(root, "models--" + repo.org + "--" + repo.name);
}

std::string trimmed(std::string s) {
  const char* const space = " \t\r\n";
  s.erase(0, s.find_first_not_of(space));
  s.erase(s.find_last_not_of(space) + 1);
  return s;
}

// The revision refs/main names, or "" when there is none (or it is not a plain
// folder name: it is joined into a path).
std::string readMainRef(const std::string& repoDir) {
  const std::string ref = joinPath(joinPath(repoDir, "refs"), "main");
  GByte* data = nullptr;
  vsi_l_offset size = 0;
  if (!isFile(ref) || !VSIIngestFile(nullptr, ref.c_str(), &data, &size, 4096)) return "";
  std::string rev = trimmed(std::string(reinterpret_cast<const char*>(data), size));
  VSIFree(data);
  return isSafeComponent(rev) ? rev : "";
}

// The newest (by modification time; ties by name) snapshot holding the model.
std::optional<ModelFiles> newestCompleteSnapshot(const std::string& snapshotsDir) {
  const CPLStringList entries(VSIReadDir(snapshotsDir.c_str()));
  std::optional<ModelFiles> best;
  GIntBig bestTime = 0;
  std::string bestName;
  for (int i = 0; i < entries.size(); ++i) {
    const std::string name = entries[i];
    if (name == "." || name == "..") continue;
    const std::string dir = joinPath(snapshotsDir, name);
    VSIStatBufL st;
    if (VSIStatL(dir.c_str(), &st) != 0 || !VSI_ISDIR(st.st_mode)) continue;
    auto files = filesInFolder(dir);
    if (!files) continue;
    const GIntBig mtime = static_cast<GIntBig>(st.st_mtime);
    if (!best || mtime > bestTime || (mtime == bestTime && name > bestName)) {
      best = std::move(files);
      bestTime = mtime;
      bestName = name;
    }
  }
  return best;
}

std::optional<ModelFiles> findInCache(const std::string& repoDir) {
  const std::string snapshots = joinPath(repoDir, "snapshots");
  const std::string rev = readMainRef(repoDir);
  if (!rev.empty()) {
    if (auto files = filesInFolder(joinPath(snapshots, rev))) return files;
    CPLDebug("VITFEAT", "%s: refs/main names %s, which lacks the model files", repoDir.c_str(),
             rev.c_str());
  }
  return newestCompleteSnapshot(snapshots);
}

// ---------------------------------------------------------------------------
// Downloads

// A download target: removed when destroyed, unless it was moved into place.
class PartialFile {
 public:
  explicit PartialFile(std::string path) : path_(std::move(path)) {}
  ~PartialFile() {
    if (!path_.empty()) VSIUnlink(path_.c_str());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  const std::string& path() const { return path_; }
  bool moveTo(const std::string& dest) {
    if (VSIRename(path_.c_str(), dest.c_str()) != 0) return false;
    path_.clear();
    return true;
  }

 private:
  std::string path_;
};

// Unique within and across processes, so concurrent downloads of the same
// repository never write to the same temporary file.
std::string uniqueSuffix() {
  static std::atomic<unsigned> counter{0};
  static const unsigned long long seed = [] {
    std::random_device rd;
    return (static_cast<unsigned long long>(rd()) << 32) ^ rd();
  }();
  return CPLSPrintf("%llx.%u", seed, counter++);
}

struct WriteTarget {
  VSILFILE* fp = nullptr;
  vsi_l_offset written = 0;
  bool failed = false;
  Sha256 hash;  // of the bytes received, checked against the hub's digest
};

size_t writeToFile(void* buffer, size_t size, size_t count, void* arg) {
  auto* target = static_cast<WriteTarget*>(arg);
  const size_t done = VSIFWriteL(buffer, size, count, target->fp);
  target->hash.update(buffer, done * size);
  target->written += static_cast<vsi_l_offset>(done) * size;
  // Returning less than count makes curl abort the transfer.
  if (done != count) target->failed = true;
  return done;
}

struct ProgressState {
  std::string url;
  int lastTenth = -1;
};

// Model files can be a gigabyte: tell (under CPL_DEBUG) how far along it is.
int CPL_STDCALL reportProgress(double done, const char*, void* arg) {
  auto* state = static_cast<ProgressState*>(arg);
  const int tenth = static_cast<int>(done * 10);
  if (tenth > state->lastTenth) {
    state->lastTenth = tenth;
    CPLDebug("VITFEAT", "Downloading %s: %d%%", state->url.c_str(), tenth * 10);
  }
  return TRUE;
}

// The value of the last response header called name: with redirects followed,
// the headers of every response are listed, the final one's last.
std::string lastHeader(CSLConstList headers, const char* name) {
  std::string value;
  for (CSLConstList it = headers; it != nullptr && *it != nullptr; ++it) {
    char* key = nullptr;
    const char* v = CPLParseNameValue(*it, &key);
    if (key != nullptr && v != nullptr && EQUAL(key, name)) value = trimmed(v);
    CPLFree(key);
  }
  return value;
}

struct HttpResultDeleter {
  void operator()(CPLHTTPResult* r) const { CPLHTTPDestroyResult(r); }
};

// What went wrong with one transfer; empty problem when nothing did.
struct TransferOutcome {
  std::string problem;
  bool retryable = false;  // a busy server or a broken connection, worth another try
};

// Why a finished transfer is not a complete HTTP 200 body, or "" when it is.
// CPLHTTPResult has no response code: GDAL reports 4xx/5xx in pszErrBuf
// ("HTTP error code : 404") and transport failures in nStatus + pszErrBuf.
TransferOutcome transferProblem(const CPLHTTPResult& result, const WriteTarget& target) {
  if (result.nStatus != 0 || result.pszErrBuf != nullptr) {
    int status = 0;
    if (result.pszErrBuf != nullptr &&
        std::sscanf(result.pszErrBuf, "HTTP error code : %d", &status) == 1) {
      const bool busy =
          status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
      return {CPLSPrintf("HTTP status %d", status), busy};
    }
    std::string problem = CPLSPrintf(
        "%s (curl error %d)", result.pszErrBuf ? result.pszErrBuf : "no detail", result.nStatus);
    if (result.nStatus == 28)  // CURLE_OPERATION_TIMEDOUT: no connection, or a stall
      problem += CPLSPrintf(
          "; a connection is given up after GDAL_HTTP_CONNECTTIMEOUT=%s s and a transfer after "
          "GDAL_HTTP_LOW_SPEED_TIME=%s s below GDAL_HTTP_LOW_SPEED_LIMIT=%s bytes/s",
          CPLGetConfigOption("GDAL_HTTP_CONNECTTIMEOUT", "30"),
          CPLGetConfigOption("GDAL_HTTP_LOW_SPEED_TIME", "60"),
          CPLGetConfigOption("GDAL_HTTP_LOW_SPEED_LIMIT", "1"));
    return {problem, true};
  }
  if (target.failed) return {"cannot write the downloaded data", false};
  // curl already fails a body cut short of Content-Length, but GDAL can be told
  // to ignore such errors (CPL_CURL_IGNORE_ERROR): check again. A compressed
  // body's length is not the decoded length, so it is left to curl.
  const std::string length = lastHeader(result.papszHeaders, "Content-Length");
  const std::string encoding = lastHeader(result.papszHeaders, "Content-Encoding");
  if (!length.empty() && (encoding.empty() || EQUAL(encoding.c_str(), "identity")) &&
      CPLScanUIntBig(length.c_str(), static_cast<int>(length.size())) != target.written)
    return {CPLSPrintf("received %llu of %s bytes", static_cast<unsigned long long>(target.written),
                       length.c_str()),
            true};
  return {};
}

// The SHA-256 the hub announces for a file, or "": huggingface.co sends it as
// X-Linked-Etag on the redirect of a large (LFS) file, and as the ETag of the
// file itself. Other ETags (a git blob's SHA-1, a CDN's own) are not digests.
std::string announcedSha256(CSLConstList headers) {
  for (const char* name : {"X-Linked-Etag", "ETag"}) {
    std::string tag = lastHeader(headers, name);
    if (tag.rfind("W/", 0) == 0) tag.erase(0, 2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"')
      tag = tag.substr(1, tag.size() - 2);
    for (char& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (tag.size() == 64 && tag.find_first_not_of("0123456789abcdef") == std::string::npos)
      return tag;
  }
  return "";
}

// A config option that is a number, or fallback when unset or not a number.
double numberOption(const char* key, double fallback) {
  const std::string value = option(key);
  char* end = nullptr;
  const double parsed = value.empty() ? fallback : CPLStrtod(value.c_str(), &end);
  return (value.empty() || end == nullptr || *end != '\0' || !(parsed >= 0)) ? fallback : parsed;
}

// The options of every transfer. GDAL's defaults wait forever on a server that
// accepts the connection and then sends nothing, which would hang the open: a
// stall of LOW_SPEED_TIME seconds fails it instead (the user's GDAL_HTTP_*
// settings win). GDAL's own retries are off: they would append a second body,
// or an error page, to the same file, so fetchToFile retries into an emptied one.
CPLStringList transferOptions(CSLConstList base) {
  CPLStringList options(CSLDuplicate(const_cast<char**>(base)));
  if (option("GDAL_HTTP_CONNECTTIMEOUT").empty()) options.SetNameValue("CONNECTTIMEOUT", "30");
  if (option("GDAL_HTTP_LOW_SPEED_TIME").empty()) options.SetNameValue("LOW_SPEED_TIME", "60");
  if (option("GDAL_HTTP_LOW_SPEED_LIMIT").empty()) options.SetNameValue("LOW_SPEED_LIMIT", "1");
  options.SetNameValue("MAX_RETRY", "0");
  return options;
}

// One GET of url into dest, emptied first. Returns the response headers'
// X-Repo-Commit ("" when absent) and fills outcome.
std::string fetchOnce(const std::string& url, const std::string& dest, CSLConstList options,
                      TransferOutcome& outcome) {
  VSILFILE* fp = VSIFOpenL(dest.c_str(), "wb");
  if (fp == nullptr) {
    outcome = {"cannot create " + dest, false};
    return "";
  }
  WriteTarget target;
  target.fp = fp;
  ProgressState progress{url};
  // GDAL reports HTTP errors itself too; the result carries them, and the one
  // error a failed download raises (below) names the URL and every detail.
  CPLPushErrorHandler(CPLQuietErrorHandler);
  const std::unique_ptr<CPLHTTPResult, HttpResultDeleter> result(
      CPLHTTPFetchEx(url.c_str(), options, reportProgress, &progress, writeToFile, &target));
  CPLPopErrorHandler();
  const bool closed = VSIFCloseL(fp) == 0;
  if (!result) {
    outcome = {"GDAL has no HTTP support", false};
    return "";
  }
  outcome = transferProblem(*result, target);
  if (outcome.problem.empty() && !closed) outcome = {"cannot write " + dest, false};
  if (!outcome.problem.empty()) return "";

  const std::string expected = announcedSha256(result->papszHeaders);
  if (!expected.empty()) {
    const std::string actual = Sha256::hex(target.hash.digest());
    if (actual != expected)
      outcome = {"the data received has SHA-256 " + actual + ", not the " + expected +
                     " the server announced: the transfer was corrupted",
                 true};
  }
  return lastHeader(result->papszHeaders, "X-Repo-Commit");
}

// GETs url into dest, trying again GDAL_HTTP_MAX_RETRY times (every
// GDAL_HTTP_RETRY_DELAY seconds) after a busy server or a broken transfer.
// Returns the X-Repo-Commit header ("" when absent), or nullopt after a
// CPLError. dest may be left behind: the caller owns it.
std::optional<std::string> fetchToFile(const std::string& url, const std::string& dest,
                                       CSLConstList baseOptions) {
  const CPLStringList options = transferOptions(baseOptions);
  const int retries = static_cast<int>(std::min(numberOption("GDAL_HTTP_MAX_RETRY", 0), 100.0));
  const double delay = numberOption("GDAL_HTTP_RETRY_DELAY", 30);
  CPLDebug("VITFEAT", "Downloading %s to %s", url.c_str(), dest.c_str());
  for (int attempt = 0;; ++attempt) {
    TransferOutcome outcome;
    const std::string commit = fetchOnce(url, dest, options.List(), outcome);
    if (outcome.problem.empty()) return commit;
    if (!outcome.retryable || attempt >= retries) {
      CPLError(CE_Failure, CPLE_OpenFailed, "Cannot download %s: %s%s", url.c_str(),
               outcome.problem.c_str(),
               attempt > 0 ? CPLSPrintf(" (after %d tries)", attempt + 1) : "");
      return std::nullopt;
    }
    CPLDebug("VITFEAT", "Download of %s failed (%s); trying again in %g s", url.c_str(),
             outcome.problem.c_str(), delay);
    CPLSleep(delay);
  }
}

// Removes the temporary files that downloads killed long ago left in dir. A
// recent one may belong to a download running now in another process.
void removeStaleParts(const std::string& dir) {
  constexpr double kStaleSeconds = 24 * 3600;
  const CPLStringList names(VSIReadDir(dir.c_str()));
  const time_t now = time(nullptr);
  for (int i = 0; i < names.size(); ++i) {
    const std::string name = names[i];
    const std::string suffix = ".incomplete";
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string path = joinPath(dir, name);
    VSIStatBufL st;
    if (VSIStatL(path.c_str(), &st) == 0 && VSI_ISREG(st.st_mode) &&
        difftime(now, st.st_mtime) > kStaleSeconds && VSIUnlink(path.c_str()) == 0)
      CPLDebug("VITFEAT", "Removed %s, left by an interrupted download", path.c_str());
  }
}

std::string hubEndpoint() {
  std::string endpoint = option("HF_ENDPOINT");
  if (endpoint.empty()) endpoint = "https://huggingface.co";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

// A boolean option; empty counts as unset (CPLTestBool("") would be true).
bool flag(const char* key, bool byDefault) {
  const std::string value = option(key);
  return value.empty() ? byDefault : CPLTestBool(value.c_str());
}

// Why downloads are off, or "" when they are allowed.
std::string downloadRefusal() {
  if (!flag("VITFEAT_ALLOW_DOWNLOAD", true))
    return "VITFEAT_ALLOW_DOWNLOAD=NO disables downloads; set it to YES to allow them";
  if (flag("HF_HUB_OFFLINE", false))
    return "HF_HUB_OFFLINE disables downloads; unset it to allow them";
  return "";
}

// Writes refs/main through a temporary file, so a reader never sees half a name.
bool writeMainRef(const std::string& repoDir, const std::string& rev) {
  const std::string refs = joinPath(repoDir, "refs");
  const std::string ref = joinPath(refs, "main");
  const std::string tmp = ref + "." + uniqueSuffix() + ".incomplete";
  if (VSIMkdirRecursive(refs.c_str(), 0755) != 0) return false;
  VSILFILE* fp = VSIFOpenL(tmp.c_str(), "wb");
  if (fp == nullptr) return false;
  const bool written = VSIFWriteL(rev.data(), 1, rev.size(), fp) == rev.size();
  if (VSIFCloseL(fp) != 0 || !written || VSIRename(tmp.c_str(), ref.c_str()) != 0) {
    VSIUnlink(tmp.c_str());
    return false;
  }
  return true;
}

// Removes the folders a failed download created, if they are empty (another
// process may be downloading into them).
class CreatedFolders {
 public:
  bool create(const std::string& dir) {
    if (isDirectory(dir)) return true;
    if (VSIMkdirRecursive(dir.c_str(), 0755) != 0) return false;
    created_.push_back(dir);
    return true;
  }
  void keep() { created_.clear(); }
  ~CreatedFolders() {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) VSIRmdir(it->c_str());
  }

 private:
  std::vector<std::string> created_;
};

// Fetches every file of kDownloadNames into blobs/ first and moves them into
// snapshots/<rev>/ only when all arrived whole, so a failure never leaves a
// snapshot that looks complete.
std::optional<ModelFiles> downloadToCache(const HubRepo& repo, const std::string& repoDir) {
  const std::string endpoint = hubEndpoint();
  const std::string blobs = joinPath(repoDir, "blobs");
  CreatedFolders folders;
  if (!folders.create(repoDir) || !folders.create(blobs)) {
    CPLError(CE_Failure, CPLE_OpenFailed, "Cannot create the hub cache folder %s", blobs.c_str());
    return std::nullopt;
  }
  removeStaleParts(blobs);
  removeStaleParts(joinPath(repoDir, "refs"));

  CPLStringList options;
  const std::string token = option("HF_TOKEN");
  if (!token.empty()) options.SetNameValue("HEADERS", ("Authorization: Bearer " + token).c_str());

  std::vector<std::unique_ptr<PartialFile>> parts;
  std::string rev;
  for (const char* name : kDownloadNames) {
    const std::string url = endpoint + "/" + repo.id() + "/resolve/main/" + name;
    parts.push_back(std::make_unique<PartialFile>(
        joinPath(blobs, std::string(name) + "." + uniqueSuffix() + ".incomplete")));
    const auto commit = fetchToFile(url, parts.back()->path(), options.List());
    if (!commit) return std::nullopt;
    if (commit->empty()) continue;
    if (!isSafeComponent(*commit)) {
      CPLError(CE_Failure, CPLE_AppDefined, "Cannot download %s: unexpected X-Repo-Commit '%s'",
               url.c_str(), commit->c_str());
      return std::nullopt;
    }
    // Files of two commits (a push between the requests) may not fit together.
    if (!rev.empty() && rev != *commit) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s changed during the download (commit %s, then %s); try again", repo.id().c_str(),
               rev.c_str(), commit->c_str());
      return std::nullopt;
    }
    rev = *commit;
  }
  if (rev.empty()) rev = "main";  // a server that does not tell the commit

  const std::string snapshots = joinPath(repoDir, "snapshots");
  const std::string snapshot = joinPath(snapshots, rev);
  if (!folders.create(snapshots) || !folders.create(snapshot)) {
    CPLError(CE_Failure, CPLE_OpenFailed, "Cannot create the hub cache folder %s",
             snapshot.c_str());
    return std::nullopt;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string dest = joinPath(snapshot, kDownloadNames[i]);
    if (!parts[i]->moveTo(dest)) {
      CPLError(CE_Failure, CPLE_OpenFailed, "Cannot move %s to %s", parts[i]->path().c_str(),
               dest.c_str());
      return std::nullopt;
    }
  }
  folders.keep();
  VSIRmdir(blobs.c_str());  // only our temporary files were there; keep it if not empty
  if (!writeMainRef(repoDir, rev)) {
    // The snapshot is complete and found without the ref; only say so.
    CPLError(CE_Warning, CPLE_FileIO, "Cannot write %s/refs/main", repoDir.c_str());
  }
  CPLDebug("VITFEAT", "Downloaded %s (revision %s) to %s", repo.id().c_str(), rev.c_str(),
           snapshot.c_str());
  return filesInFolder(snapshot);
}

std::optional<ModelFiles> resolveHub(const std::string& spec) {
  const auto repo = splitHubRepo(spec);
  if (!repo) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "Malformed hub model '%s': expected hf-hub:<org>/<name> (letters, digits, '-', '_', "
             "'.'; revisions ('@') are not supported)",
             spec.c_str());
    return std::nullopt;
  }
  const std::string root = hubCacheDir();
  if (root.empty()) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "No hub cache folder for %s: set HF_HUB_CACHE, HF_HOME or HOME", spec.c_str());
    return std::nullopt;
  }
  const std::string repoDir = repoCacheDir(root, *repo);
  if (auto files = findInCache(repoDir)) return files;

  const std::string refusal = downloadRefusal();
  if (!refusal.empty()) {
    CPLError(CE_Failure, CPLE_OpenFailed,
             "%s is not in the hub cache (searched %s for snapshots/<revision>/ holding %s and "
             "model.safetensors) and %s",
             spec.c_str(), repoDir.c_str(), kConfigName, refusal.c_str());
    return std::nullopt;
  }
  return downloadToCache(*repo, repoDir);
}

}  // namespace

std::string hubCacheDir() {
  // The precedence of huggingface_hub, so both share one cache.
  for (const char* key : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}) {
    const std::string dir = option(key);
    if (!dir.empty()) return CPLExpandTilde(dir.c_str());
  }
  const std::string hfHome = option("HF_HOME");
  if (!hfHome.empty()) return joinPath(CPLExpandTilde(hfHome.c_str()), "hub");
  const std::string xdgCache = option("XDG_CACHE_HOME");
  if (!xdgCache.empty())
    return joinPath(joinPath(CPLExpandTilde(xdgCache.c_str()), "huggingface"), "hub");
  const char* home = CPLGetHomeDir();
  if (home == nullptr || *home == '\0') return "";
  return joinPath(joinPath(joinPath(home, ".cache"), "huggingface"), "hub");
}

std::optional<std::string> parseHubRepo(const std::string& spec) {
  const auto repo = splitHubRepo(spec);
  if (!repo) return std::nullopt;
  return repo->id();
}

std::optional<ModelFiles> resolveModelFiles(const std::string& spec) {
  if (spec.empty()) {
    CPLError(CE_Failure, CPLE_AppDefined, "No model given");
    return std::nullopt;
  }
  if (spec.compare(0, sizeof(kHubPrefix) - 1, kHubPrefix) == 0) return resolveHub(spec);
  if (isDirectory(spec)) return resolveFolder(spec);
  VSIStatBufL st;
  if (VSIStatL(spec.c_str(), &st) == 0) return resolveFile(spec);
  CPLError(CE_Failure, CPLE_OpenFailed,
           "Model %s not found: it is neither a file nor a folder (a hub model is written "
           "hf-hub:<org>/<name>)",
           spec.c_str());
  return std::nullopt;
}

}  // namespace vitfeat
