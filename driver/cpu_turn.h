// One model call on the CPU at a time. LibTorch spreads one call over every
// core, so two at once (two dataset handles, or two processes such as QGIS and
// a gdal_translate) only oversubscribe the cores: measured on 2 cores, two
// gdal_translate runs at once took 65 s for work one run does in 6.4 s.
//
// The config option VITFEAT_CPU_LOCK says with whom to take turns:
//   SYSTEM (default)  every process that uses the same lock file, by default
//                     <temp dir>/vitfeat-cpu-<uid>.lock (VITFEAT_CPU_LOCK_FILE);
//   PROCESS           the other threads of this process only;
//   NO                nobody: each call runs at once.
// When the lock file cannot be opened, turns are taken within the process and
// one debug message says why.
#pragma once

#include <mutex>

namespace vitfeat {

class CpuTurn {
 public:
  CpuTurn();  // blocks until it is this caller's turn
  ~CpuTurn();
  CpuTurn(const CpuTurn&) = delete;
  CpuTurn& operator=(const CpuTurn&) = delete;

 private:
  std::unique_lock<std::mutex> process_;
  int lockFile_ = -1;  // a descriptor this caller holds flock() on, or -1
};

}  // namespace vitfeat
