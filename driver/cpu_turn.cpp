#include "driver/cpu_turn.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#endif

namespace vitfeat {

namespace {

std::mutex processTurn;

enum class Scope { System, Process, None };

Scope scope() {
  const char* value = CPLGetConfigOption("VITFEAT_CPU_LOCK", "SYSTEM");
  if (EQUAL(value, "PROCESS")) return Scope::Process;
  if (EQUAL(value, "NO") || EQUAL(value, "NONE") || EQUAL(value, "OFF")) return Scope::None;
  if (!EQUAL(value, "SYSTEM") && !EQUAL(value, "YES")) {
    static std::once_flag warned;
    std::call_once(warned, [value] {
      CPLError(CE_Warning, CPLE_IllegalArg,
               "VITFEAT_CPU_LOCK=%s: expected SYSTEM, PROCESS or NO; using SYSTEM", value);
    });
  }
  return Scope::System;
}

#ifndef _WIN32
std::string lockPath() {
  if (const char* path = CPLGetConfigOption("VITFEAT_CPU_LOCK_FILE", nullptr)) return path;
  const char* dir = CPLGetConfigOption("CPL_TMPDIR", nullptr);
  if (!dir) dir = std::getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  return CPLFormFilename(dir, CPLSPrintf("vitfeat-cpu-%u.lock", static_cast<unsigned>(getuid())),
                         nullptr);
}

// One descriptor per lock file for the process's lifetime (requires processTurn
// held). flock() belongs to the open file description, so threads of one
// process must not share it without processTurn: they would all "hold" it.
int lockDescriptor() {
  static std::map<std::string, int> opened;
  const std::string path = lockPath();
  const auto found = opened.find(path);
  if (found != opened.end()) return found->second;
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    CPLDebug("VITFEAT",
             "cannot open the CPU lock file %s (%s): turns are taken in this process only",
             path.c_str(), std::strerror(errno));
  opened[path] = fd;
  return fd;
}
#endif

}  // namespace

CpuTurn::CpuTurn() {
  const Scope s = scope();
  if (s == Scope::None) return;
  process_ = std::unique_lock<std::mutex>(processTurn);
#ifndef _WIN32
  if (s != Scope::System) return;
  const int fd = lockDescriptor();
  if (fd < 0) return;
  int rc;
  while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
  }
  if (rc == 0) lockFile_ = fd;
#endif
}

CpuTurn::~CpuTurn() {
#ifndef _WIN32
  if (lockFile_ >= 0) flock(lockFile_, LOCK_UN);
#endif
}

}  // namespace vitfeat
