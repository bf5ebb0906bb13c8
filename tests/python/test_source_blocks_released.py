#!/usr/bin/python3
"""A whole-raster copy does not keep the source raster in GDAL's block cache
(issue 7, "Bounded memory").

GDAL keeps every block a dataset reads until GDAL_CACHEMAX (5 % of the RAM by
default) is full, and for a pixel-interleaved GeoTIFF a read of one band loads
the blocks of all bands. The statistics estimate (NORMALIZE=dataset) reads a
sample of every block row, and the tiles read all of them: without releasing
the rows passed, the whole source sat in memory (738 MB of an 8192 x 8192
11-band input). With GDAL_CACHEMAX left large, on a 3072 x 3072 3-band Byte
source (27 MiB, tiled 256 x 256, pixel-interleaved; 12 block rows):

1. after the open, which estimated the statistics, the block cache holds
   less than one block row of the source (2.25 MiB);
2. during gdal.Translate of the VITFEAT dataset to a MEM dataset (which keeps
   no blocks in the cache), read in full-width swaths of 16 feature rows
   (GDAL_SWATH_SIZE, as a large raster's copy is), the block cache stays below
   a third of the source (measured: about 4 block rows);
3. a second copy through the same handle, which reads the source again from
   the top (CACHE_MB=0: no tile is kept), gives identical features and stays
   as low;
4. one read of the whole dataset, which the driver computes as a single strip
   of all 64 tile rows, releases the source's rows batch by batch: the block
   cache stays below a third of the source there too (it held all of it before
   the rows were released within a strip), and the features are those of (2).

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3 (python3-gdal, python3-numpy).
"""
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
gdal.UseExceptions()

SIZE = 3072
MIB = 1 << 20


def watching_cache(read):
    """Runs read(progress) and returns (its result, the peak block-cache bytes),
    sampled at each progress call (after each batch of tiles) and at the end."""
    peak = [gdal.GetCacheUsed()]

    def progress(fraction, message, data):
        peak[0] = max(peak[0], gdal.GetCacheUsed())
        return 1

    result = read(progress)
    return result, max(peak[0], gdal.GetCacheUsed())


def copy_watching_cache(src):
    """gdal.Translate src to a MEM dataset; returns (features, peak block-cache bytes)."""

    def copy(progress):
        ds = gdal.Translate("", src, format="MEM", callback=progress)
        return ds.ReadAsArray()

    return watching_cache(copy)


def read_watching_cache(src):
    """One ReadRaster of all of src; returns (features, peak block-cache bytes)."""

    def read(progress):
        data = src.ReadRaster(0, 0, src.RasterXSize, src.RasterYSize, buf_type=gdal.GDT_Float32,
                              callback=progress)
        return np.frombuffer(data, dtype=np.float32).reshape(
            src.RasterCount, src.RasterYSize, src.RasterXSize)

    return watching_cache(read)


def main():
    checks = common.Checks()
    gdal.SetCacheMax(1 << 30)  # as large as a default on a 20 GB machine
    # 16 of the 192 feature rows (32 bands) per swath: a large raster's copy
    # reads many swaths; this small one would otherwise be read in one.
    gdal.SetConfigOption("GDAL_SWATH_SIZE", str(16 * (SIZE // 16) * 32 * 4))
    work = tempfile.mkdtemp(prefix="vitfeat-release-")
    try:
        model = common.make_model(work, depth=1, embed_dim=32, heads=2, input_size=64, seed=9)
        scene = os.path.join(work, "scene.tif")
        common.write_textured_scene(gdal, np, scene, SIZE, seed=10)
        source_bytes = 3 * SIZE * SIZE
        block_row = 3 * SIZE * 256

        ds = gdal.OpenEx("VITFEAT:" + scene, gdal.OF_RASTER,
                         open_options=[f"MODEL={model}", "STRIDE=48", "OVERVIEWS=NONE",
                                       "CACHE_MB=0"])
        record = ds.GetMetadata("VITFEAT")
        checks.check("the open estimated the statistics",
                     record["NORMALIZE_STATISTICS_BAND_1"].startswith("estimated,"),
                     record["NORMALIZE_STATISTICS_BAND_1"])
        used = gdal.GetCacheUsed()
        checks.check("(1) after the estimate, less than one block row of the source is cached",
                     used < block_row, f"{used / MIB:.2f} MiB (a block row: {block_row / MIB:.2f})")

        first, peak1 = copy_watching_cache(ds)
        checks.check("(2) the copy keeps the block cache below a third of the source",
                     peak1 < source_bytes / 3,
                     f"peak {peak1 / MIB:.2f} MiB (source {source_bytes / MIB:.2f} MiB)")
        second, peak2 = copy_watching_cache(ds)
        checks.check("(3) a second copy through the same handle: the same features",
                     first.shape == second.shape and np.array_equal(first, second, equal_nan=True))
        checks.check("(3) and as little cached", peak2 < source_bytes / 3,
                     f"peak {peak2 / MIB:.2f} MiB")
        third, peak3 = read_watching_cache(ds)
        checks.check("(4) one whole-raster read keeps the block cache below a third of the source",
                     peak3 < source_bytes / 3,
                     f"peak {peak3 / MIB:.2f} MiB (source {source_bytes / MIB:.2f} MiB)")
        checks.check("(4) and gives the features of the copy",
                     first.shape == third.shape and np.array_equal(first, third, equal_nan=True))
        checks.check("the copy holds every cell and band",
                     first.shape == (32, SIZE // 16, SIZE // 16) and np.isfinite(first).all(),
                     str(first.shape))
        ds = None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
