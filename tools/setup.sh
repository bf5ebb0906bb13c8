#!/usr/bin/env bash
# Installs vitfeat's dependencies from Debian 12 packages and builds it in
# build/ (or $VITFEAT_BUILD_DIR). Run as root, or as a user with sudo.
#   VITFEAT_SKIP_APT=1        skip apt-get (dependencies already installed)
#   VITFEAT_BUILD_TARGETS=... build only these targets (space separated), as
#                             tools/example.sh does; default: everything, the
#                             test suite included
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config
  libgdal-dev gdal-bin libproj-dev libeigen3-dev catch2 zlib1g-dev
  libtorch-dev
  # LibTorch's fp32 speed depends on an optimised BLAS: ~20x over the reference one.
  libopenblas0-openmp
  python3-numpy python3-gdal
  # tests only: PCA and k-means are checked against scikit-learn, and the views
  # are rendered by QGIS (headless)
  python3-sklearn python3-qgis
  # tests only: real torch.save files to check the .pth reader against
  python3-torch
  # tests only: the rasterio and Dask recipes of docs/recipes.md are run
  python3-rasterio python3-dask
  # tests only: the UMAP view's embedding is compared with umap-learn's
  umap-learn
)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if [ "${VITFEAT_SKIP_APT:-0}" != 1 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

build=${VITFEAT_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
targets=()
if [ -n "${VITFEAT_BUILD_TARGETS:-}" ]; then
  read -r -a names <<<"$VITFEAT_BUILD_TARGETS"
  targets=(--target "${names[@]}")
fi
cmake --build "$build" -j "$(nproc)" ${targets[@]+"${targets[@]}"}
