#!/usr/bin/env bash
# End-to-end benchmark of the VITFEAT driver (figures, not a test): in one run,
#  1. the bare encoder (vit_bench, 11 input channels as the raster) in tiles/s,
#     before and after 2a/2b, the faster kept;
#  2. gdal_translate of a VITFEAT: dataset over a synthetic SIZE x SIZE 11-band
#     Byte raster to a GeoTIFF at STRIDE = TILE_SIZE, with the read pipeline on
#     and off (VITFEAT_PIPELINE=NO), and at STRIDE = TILE_SIZE / 2; tiles/s and
#     ratios to (1), also with the start-up (LibTorch and model load, open: a
#     run of one tile) subtracted;
#  3. peak resident memory (/usr/bin/time) of each gdal_translate;
#  4. a second run on a warm persistent cache (CACHE_DIR), and two processes
#     reading the same dataset at once into one cache folder.
# Usage: bench/end_to_end.sh [BUILD_DIR] ; env SIZE (default 2048), ARCH
# (vit_tiny_patch16_224), DEPTH (12), BATCH (8), THREADS (2), DEVICE (cpu; cuda
# with a CUDA build, docs/models.md), DTYPE (float32; bfloat16, or float16 on
# CUDA), BENCH_SECONDS (6: seconds per vit_bench measurement). On a GPU, (1)
# includes the copies to and from the GPU, as the driver's batches do. Peak RSS
# needs GNU time (/usr/bin/time, Debian's package `time`); without it the
# figures are timed and RSS reads n/a.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
size=${SIZE:-2048}
arch=${ARCH:-vit_tiny_patch16_224}
depth=${DEPTH:-12}
batch=${BATCH:-8}
threads=${THREADS:-2}
device=${DEVICE:-cpu}
dtype=${DTYPE:-float32}
bench_seconds=${BENCH_SECONDS:-6}
work=$(mktemp -d /tmp/vitfeat_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export GDAL_DRIVER_PATH="$build/gdalplugins" OMP_NUM_THREADS="$threads"

"$build/tools/vitfeat_make_scene" "$work/scene4.tif" --size "$size" >/dev/null
bands=()
for b in 1 2 3 4 1 2 3 4 1 2 3; do bands+=(-b "$b"); done
gdal_translate -q "${bands[@]}" -co TILED=YES "$work/scene4.tif" "$work/scene.tif"
"$build/tools/vitfeat_make_model" "$work/model" --arch "$arch" --depth "$depth" >/dev/null

now() { date +%s.%N; }
# run NAME COMMAND...: wall seconds into $secs, peak RSS (MB) into $rss.
run() {
  local name=$1
  shift
  local t0 t1
  t0=$(now)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%M" -o "$work/rss" "$@" >/dev/null
    rss="$(awk '{ printf "%.0f", $1 / 1024 }' "$work/rss") MB"
  else
    "$@" >/dev/null
    rss=n/a
  fi
  t1=$(now)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  echo "$name: $secs s, peak RSS $rss"
}
opts=(-oo MODEL="$work/model" -oo BATCH_SIZE="$batch" -oo NUM_THREADS="$threads" -oo DEVICE="$device" -oo DTYPE="$dtype")
base=(gdal_translate -q -co TILED=YES "VITFEAT:$work/scene.tif" "$work/out.tif" "${opts[@]}")
tiles_of() {  # stride -> tile count of the raster
  gdalinfo -mdd VITFEAT "VITFEAT:$work/scene.tif" -oo MODEL="$work/model" -oo STRIDE="$1" \
    -oo DEVICE="$device" |
    awk -F'[=x]' '/^  TILES=/ { print $2 * $3 }'
}

echo "machine: $(nproc) cores, $(awk -F: '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "raster: ${size} x ${size}, 11 bands Byte; model: $arch depth $depth; batch $batch; threads $threads; device $device; dtype $dtype"
# The bare encoder as the driver builds it for this raster (11 input channels),
# in tiles/s. Measured before and after the runs of 2., the faster kept: a slow
# spell of a shared machine then cannot flatter the ratio.
bare_encoder() {
  "$build/bench/vit_bench" --arch "$arch" --batch "$batch" --threads "$threads" --device "$device" \
    --dtype "$dtype" --seconds "$bench_seconds" --in-chans 11 |
    awk '{ for (i = 1; i < NF; ++i) if ($(i + 1) ~ /^images\/s/ && !done) { print $i; done = 1 } }'
}
bare=$(bare_encoder)
echo "1. bare encoder (11 input channels): $bare tiles/s"

n1=$(tiles_of 224)
n2=$(tiles_of 112)
"${base[@]}"  # warm-up: page cache, first model load
# Alternated twice; the faster of each kept (the machine is noisy).
s_on=1e9
s_off=1e9
for round in 1 2; do
  run "2a. gdal_translate STRIDE=224, pipeline on ($n1 tiles), round $round" \
    env VITFEAT_PIPELINE=YES "${base[@]}"
  s_on=$(awk -v a="$s_on" -v b="$secs" 'BEGIN { print (b < a ? b : a) }')
  run "2b. gdal_translate STRIDE=224, pipeline off (default on CPU), round $round" \
    env VITFEAT_PIPELINE=NO "${base[@]}"
  s_off=$(awk -v a="$s_off" -v b="$secs" 'BEGIN { print (b < a ? b : a) }')
done
bare2=$(bare_encoder)
echo "1. bare encoder again, after 2a and 2b: $bare2 tiles/s"
bare=$(awk -v a="$bare" -v b="$bare2" 'BEGIN { print (b > a ? b : a) }')
# What every run pays before its first tile: loading LibTorch with the plugin,
# loading the model, opening; measured as a run that computes one tile.
# (A small striped output: a tiled one would write 256 x 256 blocks of every band.)
run "2e. start-up: gdal_translate of one tile's 14 x 14 cells (1 tile)" \
  gdal_translate -q "VITFEAT:$work/scene.tif" "$work/one.tif" "${opts[@]}" -srcwin 0 0 14 14
s_start=$secs
run "2c. gdal_translate STRIDE=112 ($n2 tiles)" "${base[@]}" -oo STRIDE=112
s_half=$secs
run "2d. gdal_translate STRIDE=112 BLEND=cosine" "${base[@]}" -oo STRIDE=112 -oo BLEND=cosine
awk -v n="$n1" -v a="$s_on" -v b="$s_off" -v h="$s_half" -v bare="$bare" 'BEGIN {
  printf "   tiles/s: pipeline on %.1f, off %.1f; end to end / bare encoder: on %.2f, off %.2f\n",
         n / a, n / b, (n / a) / bare, (n / b) / bare
  printf "   STRIDE=112 time / STRIDE=224 time (pipeline off): %.2f\n", h / b }'
awk -v n="$n1" -v b="$s_off" -v s="$s_start" -v bare="$bare" 'BEGIN {
  printf "   start-up subtracted (pipeline off): %.1f tiles/s, %.2f of the bare encoder\n",
         (n - 1) / (b - s), ((n - 1) / (b - s)) / bare }'

cache=$work/tiles
run "4a. STRIDE=224 into an empty CACHE_DIR" "${base[@]}" -oo CACHE_DIR="$cache"
run "4b. the same again, warm CACHE_DIR" "${base[@]}" -oo CACHE_DIR="$cache"
rm -rf "$cache"
t0=$(now)
"${base[@]}" -oo CACHE_DIR="$cache" &
gdal_translate -q "VITFEAT:$work/scene.tif" "$work/out2.tif" -oo MODEL="$work/model" \
  -oo BATCH_SIZE="$batch" -oo NUM_THREADS="$threads" -oo DEVICE="$device" -oo DTYPE="$dtype" \
  -oo CACHE_DIR="$cache"
wait
t1=$(now)
files=$(find "$cache" -name '*.vtile' | wc -l)
echo "4c. two processes at once into one CACHE_DIR: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s for both, $files tile files (raster: $n1 tiles)"
