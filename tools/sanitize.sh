#!/usr/bin/env bash
# Builds and tests vitfeat under the sanitizers (see tests/sanitizers/README.md).
#   tools/sanitize.sh asan   ASan + UBSan: the whole project in build-asan, then
#                            every ctest test (the Python ones with the ASan
#                            runtime preloaded into /usr/bin/python3)
#   tools/sanitize.sh tsan   ThreadSanitizer: just test_driver_concurrency and
#                            the plugin in build-tsan, run VITFEAT_TSAN_RUNS times
# Environment:
#   VITFEAT_SANITIZE_JOBS   build and ctest parallelism (default 2)
#   VITFEAT_BUILD_DIR       build folder (default build-asan / build-tsan)
#   VITFEAT_SANITIZE_SKIP_BUILD=1   run the tests of an existing build only
#   VITFEAT_TSAN_RUNS       repetitions of the TSan test (default 3)
# The dependencies are those of tools/setup.sh (no apt-get here). Exits non-zero
# on a build failure, a failed test or a sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-asan}
jobs=${VITFEAT_SANITIZE_JOBS:-2}
supp=$root/tests/sanitizers
# -O1: Eigen and the math tests stay fast enough; -g1: line tables only (file:line
# in reports, much less to compile than -g with LibTorch's headers). NDEBUG is
# left out, so assert() and Eigen's bounds checks are on too.
opt="-O1 -g1"

configure() {  # build-dir sanitizer-flags [more cmake arguments]
  local build=$1 flags=$2
  shift 2
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    -DCMAKE_MODULE_LINKER_FLAGS="$flags" -DVITFEAT_BUILD_BENCH=OFF "$@"
}

case "$mode" in
  asan)
    build=${VITFEAT_BUILD_DIR:-build-asan}
    # Every UBSan check aborts at the first report (no recovery), as ASan does.
    # float-cast-overflow (NaN or out-of-range float to integer) is UB that
    # GCC's -fsanitize=undefined leaves out: the pixel code converts floats.
    flags="-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=undefined,float-cast-overflow"
    libasan=$(readlink -f "$(g++ -print-file-name=libasan.so)")
    libstdcxx=$(readlink -f "$(g++ -print-file-name=libstdc++.so.6)")
    # /usr/bin/python3 is not built with ASan but loads the sanitized plugin:
    # the runtime must be loaded first. libstdc++ too: python3 does not link
    # it, and ASan's __cxa_throw interceptor, set up at start, otherwise finds
    # no real __cxa_throw and aborts at the first C++ exception (PROJ throws
    # and catches some). Leaks are not checked there: CPython leaves its heap
    # to the OS at exit, and any suppression matching its frames would match
    # every stack, ours included.
    python_env="LD_PRELOAD=$libasan $libstdcxx;ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0"
    # Configured even when the build is skipped: the Python tests' environment
    # is a cache entry, and an older one may name other files.
    configure "$build" "$flags" "-DVITFEAT_PYTHON_EXTRA_ENV=$python_env"
    if [ "${VITFEAT_SANITIZE_SKIP_BUILD:-0}" != 1 ]; then
      time cmake --build "$build" -j "$jobs"
    fi
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    cd "$build"
    # Left out: python_qgis_large, which compares two timings taken in one
    # run, meaningless under the sanitizers' slowdown of our code alone, and
    # python_memory_bounded, which compares peak memory: ASan keeps freed
    # memory in quarantine (256 MB) and adds shadow memory.
    log=$(mktemp)
    set +e
    time ctest -j "$jobs" --timeout 1800 --output-on-failure -E '^(python_qgis_large|python_memory_bounded)$' 2>&1 |
      tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
      echo "sanitizer report(s) above"
      exit 1
    fi
    # Tests that run GDAL's tools (gdal_translate, gdalinfo) or start other
    # processes load the sanitized plugin into programs not built with ASan:
    # those fail with "ASan runtime does not come first". They run again
    # with the runtime preloaded, and without leak checks (the tools'
    # own allocations are not ours to judge). Only when the first pass had no
    # sanitizer report at all, so a report can never be hidden by this pass.
    if [ "$rc" != 0 ]; then
      echo "second pass: the failed tests, with $libasan preloaded, leaks not checked"
      set +e
      LD_PRELOAD="$libasan $libstdcxx" \
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0" \
        ctest -j "$jobs" --timeout 1800 --output-on-failure --rerun-failed 2>&1 | tee "$log"
      rc=${PIPESTATUS[0]}
      set -e
      if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$log"; then rc=1; fi
    fi
    rm -f "$log"
    exit "$rc"
    ;;
  tsan)
    build=${VITFEAT_BUILD_DIR:-build-tsan}
    if [ "${VITFEAT_SANITIZE_SKIP_BUILD:-0}" != 1 ]; then
      configure "$build" "-fsanitize=thread"
      time cmake --build "$build" -j "$jobs" --target test_driver_concurrency
    fi
    # LibTorch's intra-op pool (OpenMP, libgomp) is not instrumented: one
    # thread keeps its hand-offs out of the picture. The test's own threads
    # (one GDAL handle each) and the engine's locks are what is checked.
    export OMP_NUM_THREADS=1 GDAL_NUM_THREADS=1
    export TSAN_OPTIONS="suppressions=$supp/tsan.supp:halt_on_error=0:exitcode=66:second_deadlock_stack=1:history_size=4:report_signal_unsafe=0"
    case "$build" in /*) ;; *) build=$root/$build ;; esac
    export GDAL_DRIVER_PATH=$build/gdalplugins
    runs=${VITFEAT_TSAN_RUNS:-3}
    for i in $(seq 1 "$runs"); do
      echo "== TSan run $i/$runs"
      time "$build/tests/test_driver_concurrency" --durations yes
    done
    ;;
  *)
    echo "usage: $0 [asan|tsan]" >&2
    exit 2
    ;;
esac
