#!/usr/bin/python3
"""The plugin loads LibTorch only when a VITFEAT dataset is opened.

GDAL loads gdal_VITFEAT.so in every process that registers its plugins
(gdalinfo, QGIS, rasterio). The plugin registers every driver without LibTorch
and loads vitfeat_engine.so, from its own folder, on the first VITFEAT open.
Each case runs in a new process (this script with --child), which reports
whether LibTorch is mapped into it (/proc/self/maps) after each step:

1. with both modules: after GDAL's start-up, after opening a GeoTIFF, and
   after reading a VITPCA view of a feature GeoTIFF, LibTorch is not loaded;
   after reading a VITFEAT dataset it is, and the features are finite;
2. with gdal_VITFEAT.so alone in the folder: GDAL starts, the view works, and
   opening VITFEAT fails with an error that names the missing engine file;
3. with only a link to gdal_VITFEAT.so in the folder (as in GDAL's own plugin
   folder): the plugin follows the link and finds the engine beside it.

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3 (python3-gdal, python3-numpy).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()


def torch_loaded():
    with open("/proc/self/maps") as maps:
        return any("libtorch" in line or "libc10" in line for line in maps)


def child(model, scene, features):
    """One process's steps; prints one JSON object."""
    np, gdal = common.require_modules("numpy", "osgeo.gdal")
    report = {"drivers": [n for n in ("VITFEAT", "VITPCA") if gdal.GetDriverByName(n)],
              "torch_at_start": torch_loaded()}
    ds = gdal.Open(scene)
    report["plain_bands"] = ds.RasterCount
    ds = None
    report["torch_after_geotiff"] = torch_loaded()

    pca = gdal.OpenEx("VITPCA:" + features, gdal.OF_RASTER, open_options=["N_COMPONENTS=2"])
    values = pca.ReadAsArray() if pca else None
    report["pca_ok"] = bool(values is not None and np.isfinite(values).all())
    pca = None
    report["torch_after_view"] = torch_loaded()

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    gdal.ErrorReset()
    feat = gdal.OpenEx("VITFEAT:" + scene, gdal.OF_RASTER,
                       open_options=[f"MODEL={model}", "OVERVIEWS=NONE"])
    report["vitfeat_error"] = gdal.GetLastErrorMsg()
    gdal.PopErrorHandler()
    if feat is not None:
        cube = feat.ReadAsArray()
        report["vitfeat_bands"] = feat.RasterCount
        report["vitfeat_finite"] = bool(np.isfinite(cube).all() and np.abs(cube).max() > 0)
    feat = None
    report["torch_after_vitfeat"] = torch_loaded()
    print(json.dumps(report))


def run_child(plugin_dir, *args):
    env = dict(os.environ, GDAL_DRIVER_PATH=plugin_dir)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *args],
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    np, gdal = common.require_modules("numpy", "osgeo.gdal")
    gdal.UseExceptions()
    plugin_dir = os.environ["GDAL_DRIVER_PATH"]
    checks = common.Checks()
    work = tempfile.mkdtemp(prefix="vitfeat-split-")
    try:
        model = common.make_model(work, depth=1, embed_dim=32, heads=2, input_size=64, seed=5)
        scene = os.path.join(work, "scene.tif")
        common.write_textured_scene(gdal, np, scene, 128, seed=6)
        features = os.path.join(work, "features.tif")
        cube = np.random.default_rng(7).standard_normal((6, 32, 32)).astype(np.float32)
        common.write_features(gdal, features, cube)
        args = (model, scene, features)

        print("1. both modules")
        r = run_child(plugin_dir, *args)
        checks.check("every driver registered", r["drivers"] == ["VITFEAT", "VITPCA"],
                     str(r["drivers"]))
        checks.check("LibTorch not loaded at start-up", not r["torch_at_start"])
        checks.check("nor after opening a GeoTIFF", not r["torch_after_geotiff"])
        checks.check("the view reads", r["pca_ok"])
        checks.check("nor after reading a view of a feature GeoTIFF", not r["torch_after_view"])
        checks.check("VITFEAT reads 32 finite, non-zero bands",
                     r.get("vitfeat_bands") == 32 and r.get("vitfeat_finite", False),
                     r["vitfeat_error"])
        checks.check("LibTorch loaded once a VITFEAT dataset was opened", r["torch_after_vitfeat"])

        print("2. gdal_VITFEAT.so without its engine")
        alone = os.path.join(work, "plugin_alone")
        os.makedirs(alone)
        shutil.copy(os.path.join(plugin_dir, "gdal_VITFEAT.so"), alone)
        r = run_child(alone, *args)
        checks.check("every driver registered", r["drivers"] == ["VITFEAT", "VITPCA"],
                     str(r["drivers"]))
        checks.check("the view reads", r["pca_ok"])
        checks.check("VITFEAT fails to open", "vitfeat_bands" not in r)
        expected = os.path.join(alone, "vitfeat_engine.so")
        checks.check("its error names the missing engine",
                     "cannot load the feature engine" in r["vitfeat_error"]
                     and expected in r["vitfeat_error"], r["vitfeat_error"])
        checks.check("LibTorch never loaded", not r["torch_after_vitfeat"])

        print("3. a link to gdal_VITFEAT.so, without the engine beside the link")
        linked = os.path.join(work, "plugin_linked")
        os.makedirs(linked)
        os.symlink(os.path.join(os.path.abspath(plugin_dir), "gdal_VITFEAT.so"),
                   os.path.join(linked, "gdal_VITFEAT.so"))
        r = run_child(linked, *args)
        checks.check("VITFEAT reads through the linked plugin",
                     r.get("vitfeat_bands") == 32 and r.get("vitfeat_finite", False),
                     r["vitfeat_error"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
        sys.exit(0)
    sys.exit(main())
