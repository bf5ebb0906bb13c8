#!/usr/bin/env bash
# Installs, builds, and runs the main job on the bundled example: ViT features
# of tools/example/landscape.tif as a GeoTIFF, through plain GDAL tools.
#
# No pretrained weights ship with vitfeat (and none can be downloaded on
# machines without internet), so the example uses a seeded random ViT written
# by vitfeat_make_model. With network access, use a real model instead, e.g.
#   VITFEAT_MODEL=hf-hub:timm/vit_small_patch14_dinov2.lvd142m tools/example.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=$(cd "${VITFEAT_BUILD_DIR:-build}" && pwd)
out=${VITFEAT_EXAMPLE_OUT:-example-output}
mkdir -p "$out"
export GDAL_DRIVER_PATH="$build/gdalplugins"

model=${VITFEAT_MODEL:-}
if [ -z "$model" ]; then
  model="$out/vit_tiny_random"
  "$build/tools/vitfeat_make_model" "$model" --arch vit_tiny_patch16_224 --depth 4
fi

src=tools/example/landscape.tif
echo "== features: gdal_translate VITFEAT:$src (224-pixel tiles, stride 112, cosine blending)"
gdal_translate -of GTiff -co COMPRESS=DEFLATE -co TILED=YES "VITFEAT:$src" "$out/features.tif" \
  -oo MODEL="$model" -oo STRIDE=112 -oo BLEND=cosine
echo "== a descriptor that QGIS opens like any raster: $out/features.vitfeat"
gdal_translate -q -of VITFEAT "VITFEAT:$src" "$out/features.vitfeat" \
  -oo MODEL="$model" -oo STRIDE=112 -oo BLEND=cosine
gdalinfo -mdd VITFEAT "$out/features.vitfeat" | grep -E "^Driver|^Size|^Pixel Size|^  (MODEL|TILE_SIZE|STRIDE|BLEND|NORMALIZE)="
# awk, not head: head would close the pipe early and kill gdalinfo with SIGPIPE
# (exit status 141 under pipefail).
gdalinfo -stats "$out/features.tif" | grep -E "^Band 1 |^Band 192 |STATISTICS_(MEAN|STDDEV)=" | awk 'NR <= 6'
echo "== views of the features: a PCA false-colour image and 6 k-means clusters"
gdal_translate -q -of VITPCA "VITPCA:$out/features.tif" "$out/pca.vitpca" -oo RGB=YES
gdal_translate -q "$out/pca.vitpca" "$out/pca_rgb.tif"
gdal_translate -q -of VITCLUSTER "VITCLUSTER:$out/features.tif" "$out/clusters.vitcluster" \
  -oo N_CLUSTERS=6
gdal_translate -q "$out/clusters.vitcluster" "$out/clusters.tif"
gdalinfo -mdd VITPCA "$out/pca.vitpca" | grep -E "^  EXPLAINED_VARIANCE_RATIO="
gdalinfo -mdd VITCLUSTER "$out/clusters.vitcluster" | grep -E "^  CLUSTER_SIZES="
echo "== done: $out/features.tif ($(gdalinfo "$out/features.tif" | grep -c '^Band') bands)," \
  "$out/pca_rgb.tif, $out/clusters.tif and their descriptors (open them in QGIS)"
