#!/usr/bin/python3
"""Reading a raster far larger than CACHE_MB keeps memory bounded (issue 9,
"Faults"; issue 7, "Bounded memory").

gdal_translate copies a VITFEAT dataset (a seeded random ViT: depth 1, 32
features, 64-pixel input, patch 16; BLEND=average at STRIDE 48, so tiles
overlap) to a GeoTIFF, with CACHE_MB=4 and GDAL_CACHEMAX=16, over 3-band Byte
scenes of 1024 x 1024 and 4096 x 4096 pixels: 16 times the pixels and the
tiles. The peak resident memory of the larger copy may exceed the smaller
one's by at most 128 MB: what a small raster does not fill but a large one
does is bounded by constants (the 32 MiB chunk of a dataset read, the 16 MiB
strip of the engine, up to 64 MiB of freed heap kept before it is handed back
to the system), while one whole-raster window of the larger input alone would
be 192 MB of float32 planes, and before the fix this copy grew to 3.1 GB.
Measured: +48 MB at STRIDE 32, +65 MB at STRIDE 48 (2-core machine).

The peaks are the children's ru_maxrss, measured one process at a time.
Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3 (python3-gdal, python3-numpy, gdal-bin).
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
gdal.UseExceptions()

SMALL, LARGE = 1024, 4096
ALLOWED_GROWTH_MB = 128


def write_scene(path, size):
    ds = gdal.GetDriverByName("GTiff").Create(path, size, size, 3, gdal.GDT_Byte, ["TILED=YES"])
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5200000.0, 0.0, -10.0))
    rows = np.arange(256)[:, None]
    for b in range(3):
        band = ds.GetRasterBand(b + 1)
        for y in range(0, size, 256):
            cols = np.arange(size)[None, :]
            values = 128 + 100 * np.sin((cols + 3 * b) / 23.0) * np.cos((rows + y) / 31.0)
            band.WriteArray(values.astype(np.uint8), 0, y)
    ds = None


def peak_mb_of_copy(model, scene, out):
    """Peak RSS (MB) of children so far, after one gdal_translate of the scene's features."""
    command = ["gdal_translate", "-q", "--config", "GDAL_CACHEMAX", "16", "VITFEAT:" + scene, out,
               "-oo", f"MODEL={model}", "-oo", "STRIDE=48", "-oo", "BLEND=average", "-oo", "CACHE_MB=4",
               "-oo", "OVERVIEWS=NONE"]
    subprocess.run(command, check=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def main():
    checks = common.Checks()
    work = tempfile.mkdtemp(prefix="vitfeat-memory-")
    try:
        model = common.make_model(work, depth=1, embed_dim=32, heads=2, input_size=64, seed=8)
        peaks = {}
        for size in (SMALL, LARGE):  # children's maximum only grows: small first
            scene = os.path.join(work, f"scene{size}.tif")
            write_scene(scene, size)
            peaks[size] = peak_mb_of_copy(model, scene, os.path.join(work, f"out{size}.tif"))
            out = gdal.Open(os.path.join(work, f"out{size}.tif"))
            checks.check(f"{size} x {size}: the copy has every cell and band",
                         (out.RasterXSize, out.RasterYSize, out.RasterCount)
                         == (size // 16, size // 16, 32),
                         f"{out.RasterXSize} x {out.RasterYSize} x {out.RasterCount}")
            out = None
            print(f"  peak RSS of gdal_translate at {size} x {size}: {peaks[size]:.0f} MB")
        growth = peaks[LARGE] - peaks[SMALL]
        checks.check(f"16x the pixels adds at most {ALLOWED_GROWTH_MB} MB of peak memory",
                     growth <= ALLOWED_GROWTH_MB,
                     f"{peaks[SMALL]:.0f} MB -> {peaks[LARGE]:.0f} MB ({growth:+.0f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
