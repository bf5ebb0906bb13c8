#!/usr/bin/env bash
# Installs, builds and runs the main job on a bundled example, fully offline:
#   1. a synthetic 4-band scene made by vitfeat_make_scene (fields, forest,
#      river and lake, roads, a town; no external data),
#   2. its ViT features as a GeoTIFF, through gdal_translate VITFEAT:...,
#   3. views of the features as PNGs: PCA false colour, 8 k-means clusters and
#      the similarity to a point in the lake (descriptors that QGIS opens too),
#   4. a summary: sizes, times, tiles/s.
# Only what the example needs is built (the plugin and two small tools), not
# the test suite.
#
# No pretrained weights ship with vitfeat (and none can be downloaded offline),
# so by default the model is a small seeded random-weights ViT written by
# vitfeat_make_model: a deterministic stand-in whose features echo colour and
# texture only. Real analyses need pretrained weights, e.g.
#   VITFEAT_MODEL=hf-hub:timm/vit_small_patch14_dinov2.lvd142m bash tools/example.sh
# Settings: VITFEAT_MODEL, VITFEAT_INPUT_SIZE (224) and VITFEAT_STRIDE (112),
# VITFEAT_EXAMPLE_OUT (example-output), VITFEAT_BUILD_DIR and VITFEAT_SKIP_APT
# (see tools/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VITFEAT_BUILD_TARGETS="vitfeat_plugin vitfeat_make_model vitfeat_make_scene" tools/setup.sh
build=$(cd "${VITFEAT_BUILD_DIR:-build}" && pwd)
out=${VITFEAT_EXAMPLE_OUT:-example-output}
mkdir -p "$out"
# Descriptors of an earlier run go first, as plain files (so does their PAM
# .aux.xml): a descriptor rewritten over another options set would otherwise
# keep the old statistics beside it.
rm -f "$out"/features.vitfeat* "$out"/pca.vitpca* "$out"/clusters.vitcluster* \
  "$out"/similarity.vitsim*
export GDAL_DRIVER_PATH="$build/gdalplugins"

now() { date +%s.%N; }
# Seconds since the stamp $1, one decimal.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# Value of KEY=value in the metadata listing $2 (gdalinfo indents items by two).
item() { awk -v k="  $1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2) }' <<<"$2"; }
start=$(now)

hub_line="VITFEAT_MODEL=hf-hub:timm/vit_small_patch14_dinov2.lvd142m bash tools/example.sh"
stand_in_note() {
  echo "!! The model is a seeded RANDOM-WEIGHTS ViT-Ti/16 (4 blocks), a stand-in that runs offline:"
  echo "!! its features only echo colour and texture. Real analyses need pretrained weights:"
  echo "!!   $hub_line"
}

echo "== scene: a synthetic 4-band landscape (no external data)"
t=$(now)
scene_log=$("$build/tools/vitfeat_make_scene" "$out/scene.tif")
echo "$scene_log"
# The similarity view's reference: a point in the lake, as the scene reports it.
point=$(awk '$1 == "point" && $2 == "water" { print $3 }' <<<"$scene_log")
# True colour at half size, the scale of the views' PNGs below (8 pixels per cell).
gdal_translate -q -of PNG -b 3 -b 2 -b 1 -outsize 50% 50% -r average \
  "$out/scene.tif" "$out/scene_rgb.png"
t_scene=$(since "$t")

t=$(now)
model=${VITFEAT_MODEL:-}
t_model=""
if [ -z "$model" ]; then
  echo "== model: none given, writing the built-in deterministic stand-in"
  model="$out/vit_tiny_random"
  "$build/tools/vitfeat_make_model" "$model" --arch vit_tiny_patch16_224 --depth 4 --seed 0
  stand_in_note
  t_model="model $(since "$t") s, "
else
  echo "== model: $model"
fi

input_size=${VITFEAT_INPUT_SIZE:-224}
stride=${VITFEAT_STRIDE:-112}
oo=(-oo MODEL="$model" -oo INPUT_SIZE="$input_size" -oo STRIDE="$stride" -oo BLEND=cosine)
src="$out/scene.tif"
echo "== features: gdal_translate VITFEAT:$src" \
  "($input_size-pixel tiles, stride $stride, cosine blending)"
t=$(now)
gdal_translate -of GTiff -co COMPRESS=DEFLATE -co TILED=YES "VITFEAT:$src" "$out/features.tif" \
  "${oo[@]}"
t_features=$(since "$t")
# The same features as a descriptor that QGIS opens like any raster (computed
# on demand); its metadata also tell the tiling.
gdal_translate -q -of VITFEAT "VITFEAT:$src" "$out/features.vitfeat" "${oo[@]}"
meta=$(gdalinfo -mdd VITFEAT "$out/features.vitfeat")
tiles=$(item TILES "$meta")                                   # columns x rows
n_tiles=$(awk -F x '{ print $1 * $2 }' <<<"$tiles")
info=$(gdalinfo "$out/features.tif")
cells=$(awk '/^Size is/ { sub(/,/, "", $3); print $3 " x " $4 }' <<<"$info")
cell_m=$(awk -F '[(,]' '/^Pixel Size/ { printf "%g", $2 }' <<<"$info")
n_bands=$(grep -c '^Band ' <<<"$info")

echo "== views of the features (PNGs at 8 pixels per feature cell, descriptors for QGIS)"
t=$(now)
gdal_translate -q -of VITPCA "VITPCA:$out/features.tif" "$out/pca.vitpca" -oo RGB=YES
gdal_translate -q -of PNG -outsize 800% 800% -r nearest "$out/pca.vitpca" "$out/pca_rgb.png"
t_pca=$(since "$t")
echo "PCA false colour: $out/pca_rgb.png, explained variance ratios" \
  "$(item EXPLAINED_VARIANCE_RATIO "$(gdalinfo -mdd VITPCA "$out/pca.vitpca")")"

t=$(now)
gdal_translate -q -of VITCLUSTER "VITCLUSTER:$out/features.tif" "$out/clusters.vitcluster" \
  -oo N_CLUSTERS=8
# PNG keeps the cluster view's colour table.
gdal_translate -q -of PNG -outsize 800% 800% -r nearest "$out/clusters.vitcluster" \
  "$out/clusters.png"
t_clusters=$(since "$t")
echo "8 k-means clusters: $out/clusters.png, sampled cells per cluster" \
  "$(item CLUSTER_SIZES "$(gdalinfo -mdd VITCLUSTER "$out/clusters.vitcluster")")"

t=$(now)
gdal_translate -q -of VITSIM "VITSIM:$out/features.tif" "$out/similarity.vitsim" \
  -oo POINTS="$point"
# Cosine similarity is Float32 in [-1, 1]: coloured from dark (0 and below)
# through purple and orange to yellow (1) through a colour-relief VRT.
cat >"$out/similarity_colours.txt" <<'EOF'
nv 0 0 0 0
-1 13 8 135
0 13 8 135
0.4 126 3 168
0.7 204 71 120
0.85 248 149 64
1 240 249 33
EOF
gdaldem color-relief -q -of VRT "$out/similarity.vitsim" "$out/similarity_colours.txt" \
  "$out/similarity_rgb.vrt"
gdal_translate -q -of PNG -outsize 800% 800% -r nearest "$out/similarity_rgb.vrt" \
  "$out/similarity.png"
rm "$out/similarity_rgb.vrt" "$out/similarity_colours.txt"
t_sim=$(since "$t")
echo "similarity to the lake point $point (EPSG:32633): $out/similarity.png" \
  "(dark: 0 or less, yellow: 1)"

scene_info=$(gdalinfo "$src")
pixels=$(awk '/^Size is/ { sub(/,/, "", $3); print $3 " x " $4 }' <<<"$scene_info")
echo
echo "== summary"
echo "input     $src: $pixels pixels of 10 m," \
  "$(grep -c '^Band ' <<<"$scene_info") bands (blue, green, red, nir)"
echo "model     $(item MODEL_ARCHITECTURE "$meta"), patch $(item PATCH_SIZE "$meta")," \
  "$(item EMBED_DIM "$meta") features per cell: $model"
echo "features  $out/features.tif: $cells cells of $cell_m m, $n_bands Float32 bands"
echo "tiles     $n_tiles computed ($tiles) of $(item TILE_SIZE "$meta") pixels," \
  "stride $(item STRIDE "$meta"), $(item BLEND "$meta") blending"
echo "times     scene ${t_scene} s, ${t_model}features ${t_features} s" \
  "($(awk -v n="$n_tiles" -v s="$t_features" 'BEGIN { printf "%.1f", n / s }') tiles/s," \
  "model loading included), PCA ${t_pca} s, clusters ${t_clusters} s," \
  "similarity ${t_sim} s; total $(since "$start") s"
echo "look at   $out/scene_rgb.png $out/pca_rgb.png $out/clusters.png $out/similarity.png"
echo "in QGIS   $out/features.vitfeat $out/pca.vitpca $out/clusters.vitcluster" \
  "$out/similarity.vitsim (GDAL_DRIVER_PATH=$GDAL_DRIVER_PATH)"
if [ -z "${VITFEAT_MODEL:-}" ]; then stand_in_note; fi
