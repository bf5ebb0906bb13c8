#!/usr/bin/python3
"""A process killed (SIGKILL) while it fills the persistent tile cache leaves
nothing that a later open would serve, and the next open gives what an
uninterrupted run gives (issue 9, "Faults").

A seeded random ViT (depth 1, 32 features, 64-pixel input, patch 16) over a
3-band Byte scene of 1536 x 1536 pixels: 24 x 24 = 576 tiles at STRIDE 64, a
96 x 96-cell feature raster. gdal_translate (another process) reads it with
CACHE_DIR and BATCH_SIZE 4, and is killed once 40 entries are on disk, while it
is still writing. Then, in this process:

1. the cache holds only whole entries (name without ".tmp"), plus perhaps the
   killed writer's temporary files;
2. an open with CACHE_DIR reads every entry the killed run completed from disk
   (TILES_FROM_DISK = entries present) and computes the rest (TILES_COMPUTED =
   576 - entries), and its features equal an uncached read of the same
   dataset within 1e-5 (tiles batched differently round differently in the
   last bits: see test_recipes_rasterio_dask.py), with NaN nowhere;
3. a third open without the memory cache (CACHE_MB=0) serves all 576 tiles
   from disk, bit for bit what (2) returned.

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3 (python3-gdal, python3-numpy, gdal-bin).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
gdal.UseExceptions()

SIZE = 1536  # input pixels a side
TILE = 64
TILES = (SIZE // TILE) ** 2  # 576 at STRIDE = TILE
KILL_AFTER = 40  # entries on disk when the writer is killed
TOLERANCE = 1e-5


def cache_files(folder):
    """(whole entries, temporary files) under the cache folder."""
    entries, temporary = [], []
    for root, _, files in os.walk(folder):
        for name in files:
            if ".tmp" in name:
                temporary.append(os.path.join(root, name))
            elif name.endswith(".vtile"):  # not the input's statistics (.vstats)
                entries.append(os.path.join(root, name))
    return entries, temporary


def counters(ds):
    record = ds.GetMetadata("VITFEAT")
    return int(record["TILES_COMPUTED"]), int(record["TILES_FROM_DISK"])


def read_all(path, options):
    ds = gdal.OpenEx(path, gdal.OF_RASTER, open_options=options)
    values = ds.ReadAsArray()
    computed, from_disk = counters(ds)
    ds = None
    return values, computed, from_disk


def main():
    checks = common.Checks()
    work = tempfile.mkdtemp(prefix="vitfeat-killed-")
    try:
        model = common.make_model(work, depth=1, embed_dim=32, heads=2, input_size=TILE, seed=5)
        scene = os.path.join(work, "scene.tif")
        common.write_textured_scene(gdal, np, scene, SIZE, seed=9)
        cache = os.path.join(work, "tiles")
        name = "VITFEAT:" + scene
        common_options = [f"MODEL={model}", f"STRIDE={TILE}", "BATCH_SIZE=4", "OVERVIEWS=NONE"]
        with_cache = common_options + [f"CACHE_DIR={cache}"]

        # The writer: another process, killed without warning part way through.
        command = ["gdal_translate", "-q", name, os.path.join(work, "killed.tif")]
        for option in with_cache:
            command += ["-oo", option]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        writer = subprocess.Popen(command, env=env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and writer.poll() is None:
            if len(cache_files(cache)[0]) >= KILL_AFTER:
                break
            time.sleep(0.01)
        finished = writer.poll() is not None
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        entries, temporary = cache_files(cache)
        checks.check("the writer was killed while it was still writing",
                     not finished and KILL_AFTER <= len(entries) < TILES,
                     f"{len(entries)} of {TILES} entries on disk, {len(temporary)} temporary "
                     f"file(s) left, exit status {writer.returncode}")

        reference, computed, _ = read_all(name, common_options + ["CACHE_MB=0"])
        checks.check("the uncached reference computed every tile", computed == TILES,
                     f"{computed} tiles")

        resumed, computed, from_disk = read_all(name, with_cache)
        checks.check("the next open reads what the killed run completed and computes the rest",
                     from_disk == len(entries) and computed == TILES - len(entries),
                     f"{from_disk} from disk, {computed} computed")
        checks.check("no NaN (no tile was lost)", not np.isnan(resumed).any())
        checks.below("resumed features against the uninterrupted run",
                     float(np.max(np.abs(resumed.astype(np.float64) - reference))), TOLERANCE)

        # CACHE_MB=0: nothing from this process's memory, every tile from disk.
        again, computed, from_disk = read_all(name, with_cache + ["CACHE_MB=0"])
        checks.check("a third open serves every tile from disk",
                     from_disk == TILES and computed == 0,
                     f"{from_disk} from disk, {computed} computed")
        checks.check("bit for bit what the resumed read returned", np.array_equal(again, resumed))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
