"""Shared set-up of the Python end-to-end tests of the vitfeat views.

Run the tests with Debian's /usr/bin/python3 (python3-gdal, python3-numpy,
python3-sklearn, python3-qgis). CTest sets GDAL_DRIVER_PATH to the freshly
built plugin folder; run by hand, the scripts default to <repo>/build/gdalplugins.
"""
import os
import sys

SKIP = 77  # CTest's SKIP_RETURN_CODE for these tests
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def set_environment():
    """Environment the plugin reads when GDAL loads it: call before importing osgeo/qgis."""
    os.environ.setdefault("GDAL_DRIVER_PATH", os.path.join(REPO, "build", "gdalplugins"))
    # No on-disk fit cache: every process fits afresh (fits are still shared in memory
    # within one process).
    os.environ.setdefault("VITFEAT_FIT_CACHE", "NO")
    os.environ.setdefault("VITFEAT_DIGEST_CACHE", "NO")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("OMP_NUM_THREADS", "2")


def make_model(folder, depth, embed_dim, heads, input_size, seed):
    """A seeded random ViT-Ti-like model folder (config.json + model.safetensors,
    patch 16) made by vitfeat_make_model; returns its path."""
    import subprocess

    tool = os.environ.get("VITFEAT_MAKE_MODEL",
                          os.path.join(REPO, "build", "tools", "vitfeat_make_model"))
    if not os.access(tool, os.X_OK):
        print(f"FAIL: {tool} not found; build vitfeat (or set VITFEAT_MAKE_MODEL)")
        sys.exit(1)
    model = os.path.join(folder, "vit_random")
    subprocess.run([tool, model, "--arch", "vit_tiny_patch16_224", "--depth", str(depth),
                    "--embed-dim", str(embed_dim), "--heads", str(heads),
                    "--input-size", str(input_size), "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL)
    return model


def write_textured_scene(gdal, np, path, size, seed):
    """A 3-band Byte GeoTIFF (tiled, 10 m pixels in UTM) of wavy patterns plus
    seeded noise: every tile of it differs from the others."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    ds = gdal.GetDriverByName("GTiff").Create(path, size, size, 3, gdal.GDT_Byte, ["TILED=YES"])
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5200000.0, 0.0, -10.0))
    for b in range(3):
        pattern = 120 + 80 * np.sin(cols / (11.0 + 3 * b)) * np.cos(rows / (17.0 - 2 * b))
        values = pattern + 20 * rng.standard_normal((size, size))
        ds.GetRasterBand(b + 1).WriteArray(np.clip(values, 0, 255).astype(np.uint8))
    ds = None


def require_modules(*names):
    """Imports the named modules; a missing one skips the test (exit code 77)."""
    import importlib

    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as e:
            print(f"SKIPPED: python module {name} is missing ({e}); "
                  f"install Debian's package for it and run with /usr/bin/python3")
            sys.exit(SKIP)
    return modules


def require_drivers(gdal, *names):
    """The plugin must register the view drivers: a missing one is a failure, not a skip."""
    missing = [n for n in names if gdal.GetDriverByName(n) is None]
    if missing:
        print(f"FAIL: GDAL drivers {', '.join(missing)} not registered; "
              f"GDAL_DRIVER_PATH={os.environ.get('GDAL_DRIVER_PATH')}")
        sys.exit(1)


def write_features(gdal, path, cube, nodata=None, block=16):
    """Writes cube (bands x height x width, float32) as a tiled Float32 GeoTIFF in
    EPSG:32633 with 10 m cells."""
    from osgeo import osr

    bands, height, width = cube.shape
    driver = gdal.GetDriverByName("GTiff")
    ds = driver.Create(path, width, height, bands, gdal.GDT_Float32,
                       ["TILED=YES", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}",
                        "INTERLEAVE=PIXEL"])
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5200000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.WriteArray(cube[b])
    ds.FlushCache()
    ds = None


def numbers(text):
    import numpy as np

    return np.array([float(v) for v in text.split(",")], dtype=np.float64)


class Checks:
    """Collects named checks, prints each with its number, and gives the exit code."""

    def __init__(self):
        self.failed = []

    def check(self, name, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        if not ok:
            self.failed.append(name)
        return ok

    def below(self, name, value, tolerance):
        return self.check(name, bool(value <= tolerance), f"{value:.3e} (tolerance {tolerance:.0e})")

    def exit_code(self):
        if self.failed:
            print(f"FAILED {len(self.failed)} check(s): " + "; ".join(self.failed))
            return 1
        print("PASSED")
        return 0


def run_in_qgis(body):
    """Runs body() (which returns an exit code) in a headless QGIS session and
    ends the process with that code.

    Layers still alive at exitQgis crash QGIS at exit (any layer, any format):
    body's locals are collected first. Python's own finalisation would then
    destroy QGIS wrappers whose GDAL datasets exitQgis already closed, so the
    process ends right after it. The traceback of an exception is printed here
    for the same reason.
    """
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    code = 1
    try:
        code = body()
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        import gc

        gc.collect()
        app.exitQgis()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
