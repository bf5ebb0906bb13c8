#!/usr/bin/env bash
# Installs, builds and runs every test (ctest). Tests needing ../shared are
# skipped, with a warning at configure time, when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${VITFEAT_BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure --timeout 900 -j "$(nproc)"
