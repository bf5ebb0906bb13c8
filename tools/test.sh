#!/usr/bin/env bash
# Installs, builds and runs every test (ctest). Tests needing ../shared are
# skipped, with a warning at configure time, when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything, whatever VITFEAT_BUILD_TARGETS says: the tests need all targets.
env -u VITFEAT_BUILD_TARGETS tools/setup.sh
build=${VITFEAT_BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure --timeout 900 -j "$(nproc)"
