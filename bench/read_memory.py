#!/usr/bin/python3
"""Peak resident memory of a process that reads a VITFEAT dataset top to bottom
in full-width swaths of a fixed size (16 MiB of float32 by default), throwing
each swath away: vitfeat's own memory in a sequential read, without
gdal_translate's swath buffer or an output driver's blocks (figures, not a test).

Usage: /usr/bin/python3 bench/read_memory.py RASTER MODEL [KEY=VALUE ...]
  KEY=VALUE are VITFEAT open options (STRIDE=112, CACHE_MB=32, ...).
  env SWATH_MB (16). GDAL_DRIVER_PATH must hold the plugin (build/gdalplugins).
Prints the grid, the swath height, the time, the peak RSS of the process
(ru_maxrss: LibTorch, GDAL, the model and the read) and the largest GDAL
block-cache use seen between swaths.
"""
import os
import resource
import sys
import time

from osgeo import gdal


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    gdal.UseExceptions()
    raster, model, options = sys.argv[1], sys.argv[2], sys.argv[3:]
    ds = gdal.OpenEx("VITFEAT:" + raster, gdal.OF_RASTER, open_options=[f"MODEL={model}"] + options)
    width, height, bands = ds.RasterXSize, ds.RasterYSize, ds.RasterCount
    swath_bytes = int(float(os.environ.get("SWATH_MB", "16")) * (1 << 20))
    rows = max(1, swath_bytes // (width * bands * 4))
    start = time.time()
    cache_peak = 0
    for y in range(0, height, rows):
        ds.ReadRaster(0, y, width, min(rows, height - y), buf_type=gdal.GDT_Float32)
        cache_peak = max(cache_peak, gdal.GetCacheUsed())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{os.path.basename(raster)} {' '.join(options)}: {width} x {height} cells, {bands} bands, "
          f"swaths of {rows} rows, {time.time() - start:.1f} s, peak RSS {peak_mb:.0f} MB, "
          f"block cache peak {cache_peak / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
