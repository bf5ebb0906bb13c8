#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in build-fuzz/, then runs each for SECONDS
# (default 60) on a scratch copy of its seed corpus, so tests/fuzz/corpus never
# grows. Prints each harness's executions; exits 1 on any finding, whose input
# and report are kept in build-fuzz/fuzz-run/<harness>/.
#   tools/fuzz.sh [SECONDS]
#   VITFEAT_FUZZ_TARGETS="safetensors descriptor"  run only these harnesses
#   VITFEAT_FUZZ_JOBS=N                            build jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=build-fuzz
targets=${VITFEAT_FUZZ_TARGETS:-safetensors torch_checkpoint torch_pickle vit_config descriptor}

# clang with libFuzzer's runtime, from Debian, when missing (a fresh CI machine).
if ! command -v clang++ >/dev/null || [ -z "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev
fi

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
start=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B "$build" "${generator[@]}" -DVITFEAT_FUZZ=ON \
  -DVITFEAT_BUILD_TESTS=OFF -DVITFEAT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" --target fuzzers -j "${VITFEAT_FUZZ_JOBS:-2}"
echo "build: $(($(date +%s) - start)) s"

# Abort on the first report of either sanitizer, with a stack, so libFuzzer
# keeps the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A known LibTorch leak on damaged zips (see the file).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}

stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

failed=0
summary=$(printf '%-22s %12s %9s %6s %8s  %s' harness executions exec/s new seconds result)
for t in $targets; do
  run="$build/fuzz-run/$t"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/findings"
  cp tests/fuzz/corpus/"$t"/* "$run/corpus/"
  dict=()
  if [ -f "tests/fuzz/$t.dict" ]; then dict=(-dict="tests/fuzz/$t.dict"); fi
  echo "fuzz_$t: ${seconds} s ..."
  t0=$(date +%s)
  rc=0
  "$build/tests/fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=30 -rss_limit_mb=4096 -artifact_prefix="$run/findings/" "$run/corpus" \
    >"$run/log" 2>&1 || rc=$?
  elapsed=$(($(date +%s) - t0))
  result=clean
  if [ "$rc" != 0 ] || [ -n "$(ls -A "$run/findings")" ]; then
    result="FINDING (exit $rc): $run/log"
    failed=1
    grep -m1 -E '^SUMMARY|ERROR: libFuzzer|vitfeat fuzz:|runtime error' "$run/log" || tail -5 "$run/log"
  fi
  summary+=$'\n'$(printf '%-22s %12s %9s %6s %8s  %s' "fuzz_$t" \
    "$(stat number_of_executed_units "$run/log")" "$(stat average_exec_per_sec "$run/log")" \
    "$(stat new_units_added "$run/log")" "$elapsed" "$result")
done
echo "$summary"
exit "$failed"
