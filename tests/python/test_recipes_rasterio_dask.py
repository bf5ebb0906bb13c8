#!/usr/bin/python3
"""The rasterio and Dask recipes of docs/recipes.md, run on a VITFEAT dataset and
compared with GDAL's Python bindings reading the same dataset.

A 4-band UInt16 GeoTIFF (200 x 150 pixels, a block of no data) and a seeded
random ViT (vitfeat_make_model: patch 16, 64-pixel input, 48 features, its 3
input channels adapted to the 4 bands) give a 13 x 10-cell feature raster with
64-pixel tiles at a 32-pixel stride, cosine blending.

rasterio: open options given as keyword arguments reach the driver (the
VITFEAT metadata records them); size, transform, CRS, NaN nodata and Float32
bands; the whole read equals (within the tolerance below) osgeo.gdal's
ReadAsArray of a handle that computes its own tiles (CACHE_MB=0), NaN exactly on the cells without data; a window read
(computing only the 6 tiles over it) and a band-1 read on another uncached
handle equal the same cells of the whole read.

Dask: a dask.array made of one delayed windowed read per block, each task with
its own rasterio handle (the code of docs/recipes.md, which must hold it
verbatim), computed with the threaded scheduler (2 workers) on uncached handles,
equals the whole read; so does a lazily sliced part.

Tolerance 1e-5 (absolute; the features are of order 1): LibTorch's float32
results for a tile change in the last bits with the other tiles of its batch,
and reads of other windows, of one band, per block, or on a handle with or
without the tile cache batch tiles differently (BATCH_SIZE 1, 2, 4 and 8 give
whole reads up to 7.2e-7 apart on the development machine). Reads that run the
same tiles in the same batches are bit-identical.

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3 (python3-rasterio, python3-dask).
"""
import inspect
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()  # GDAL_DRIVER_PATH before rasterio or osgeo load GDAL's drivers
np, gdal, rasterio, dask = common.require_modules("numpy", "osgeo.gdal", "rasterio", "dask")
(da,) = common.require_modules("dask.array")
from rasterio.windows import Window  # noqa: E402

gdal.UseExceptions()

WIDTH, HEIGHT = 200, 150  # input pixels
CELL = 16  # input pixels per feature cell: TILE_SIZE 64 / (64 / patch 16) tokens
COLUMNS, ROWS = 13, 10  # ceil(200 / 16), ceil(150 / 16)
FEATURES = 48
NO_DATA_CELLS = (slice(3, 6), slice(5, 8))  # rows, columns whose pixels are all no data
TOLERANCE = 1e-5  # tiles batched differently round differently (see above)


# The recipe of docs/recipes.md ("Dask"): keep both copies identical, the test
# checks that the document holds these two functions verbatim.
def read_window(path, options, window):
    """All bands of one window, through a rasterio handle of this task's own."""
    with rasterio.open(path, **options) as src:
        return src.read(window=window)


def feature_array(path, options, chunks=None):
    """A lazy dask array (bands, rows, columns): one task per chunk, by default
    one per block of the raster (for VITFEAT, a block needs only the tiles over it)."""
    with rasterio.open(path, **options) as src:
        bands, height, width, dtype = src.count, src.height, src.width, src.dtypes[0]
        rows, columns = chunks or src.block_shapes[0]
    grid = []
    for top in range(0, height, rows):
        line = []
        for left in range(0, width, columns):
            window = Window(left, top, min(columns, width - left), min(rows, height - top))
            task = dask.delayed(read_window)(path, options, window)
            line.append(da.from_delayed(task, (bands, window.height, window.width), dtype))
        grid.append(line)
    return da.block(grid)


def write_scene(path):
    """4 bands, UInt16, smooth patterns and noise, nodata 0 on whole cells of the
    feature grid (rows 48-95, columns 80-127), EPSG:32633 with 10 m pixels."""
    from osgeo import osr

    rng = np.random.default_rng(20241125)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    bands = []
    for b in range(4):
        pattern = np.sin(cols / (9.0 + 4 * b)) * np.cos(rows / (13.0 - 2 * b)) + 0.002 * b * cols
        bands.append(3000 + 1500 * pattern + 200 * rng.standard_normal((HEIGHT, WIDTH)))
    cube = np.clip(np.stack(bands), 1, 65535).astype(np.uint16)
    cube[:, NO_DATA_CELLS[0].start * CELL:NO_DATA_CELLS[0].stop * CELL,
         NO_DATA_CELLS[1].start * CELL:NO_DATA_CELLS[1].stop * CELL] = 0
    ds = gdal.GetDriverByName("GTiff").Create(path, WIDTH, HEIGHT, 4, gdal.GDT_UInt16)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5200000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(4):
        ds.GetRasterBand(b + 1).SetNoDataValue(0)
        ds.GetRasterBand(b + 1).WriteArray(cube[b])
    ds = None


def max_diff(a, b):
    """Largest absolute difference over the cells where both have data."""
    both = ~np.isnan(a) & ~np.isnan(b)
    return float(np.max(np.abs(a[both].astype(np.float64) - b[both]))) if both.any() else np.inf


def same_nan(a, b):
    return bool(np.array_equal(np.isnan(a), np.isnan(b)))


def test_rasterio(checks, path, options):
    print("rasterio: open options as keyword arguments, reads against osgeo.gdal")
    with rasterio.open(path, **options) as src:
        record = src.tags(ns="VITFEAT")
        checks.check("rasterio: VITFEAT driver, 48 Float32 bands, 13 x 10 cells",
                     src.driver == "VITFEAT" and src.count == FEATURES
                     and (src.width, src.height) == (COLUMNS, ROWS)
                     and set(src.dtypes) == {"float32"},
                     f"{src.driver}, {src.count} {src.dtypes[0]} bands, {src.width} x {src.height}")
        checks.check("rasterio: keyword arguments reached the driver as open options",
                     record.get("MODEL") == options["MODEL"] and record.get("STRIDE") == "32"
                     and record.get("BLEND") == "cosine" and record.get("TILES") == "6x4",
                     f"STRIDE={record.get('STRIDE')} BLEND={record.get('BLEND')} "
                     f"TILES={record.get('TILES')}")
        checks.check("rasterio: transform = the scene's scaled by 16, CRS EPSG:32633, nodata NaN",
                     tuple(src.transform)[:6] == (160.0, 0.0, 500000.0, 0.0, -160.0, 5200000.0)
                     and src.crs.to_epsg() == 32633
                     and src.nodata is not None and np.isnan(src.nodata),
                     f"{tuple(src.transform)[:6]}, {src.crs}, {src.nodata}")
        checks.check("rasterio: band descriptions feature_0001 ...",
                     src.descriptions[0] == "feature_0001"
                     and src.descriptions[-1] == f"feature_{FEATURES:04d}",
                     f"{src.descriptions[0]} ... {src.descriptions[-1]}")
        whole = src.read()

    # osgeo.gdal on its own handle, which computes every tile itself (no tile cache).
    ds = gdal.OpenEx(path, gdal.OF_RASTER,
                     open_options=[f"{k}={v}" for k, v in options.items()] + ["CACHE_MB=0"])
    reference = ds.ReadAsArray()
    computed = int(ds.GetMetadataItem("TILES_COMPUTED", "VITFEAT"))
    checks.check("gdal: the uncached handle computed all 24 tiles itself (or more)",
                 computed >= 24, f"TILES_COMPUTED={computed}")
    expected_nan = np.zeros((ROWS, COLUMNS), bool)
    expected_nan[NO_DATA_CELLS] = True
    checks.check("rasterio read: NaN exactly on the 3 x 3 cells without data, in every band",
                 bool(np.array_equal(np.isnan(whole),
                                     np.broadcast_to(expected_nan, whole.shape))))
    valid = whole[:, ~expected_nan]
    spread = float(np.min(np.std(valid, axis=1)))
    checks.check("rasterio read: real features (finite, varying over cells in every band)",
                 bool(np.all(np.isfinite(valid))) and spread > 1e-3,
                 f"smallest per-band standard deviation {spread:.3f}")
    checks.check("rasterio read vs gdal ReadAsArray: same NaN cells", same_nan(whole, reference))
    checks.below("rasterio read vs gdal ReadAsArray (max abs)", max_diff(whole, reference),
                 TOLERANCE)

    # Window and single-band reads on another handle that computes its own tiles.
    with rasterio.open(path, CACHE_MB=0, **options) as src:
        # Columns 1..4 and rows 1..3 lie under tiles at cell columns 0, 2, 4 and
        # cell rows 0, 2 (4 x 4 cells each, every 2 cells): 6 tiles.
        window = src.read(window=Window(1, 1, 4, 3))
        window_tiles = int(src.tags(ns="VITFEAT")["TILES_COMPUTED"])
        band1 = src.read(1)
    part = whole[:, 1:4, 1:5]
    checks.check("rasterio window (4 x 3 cells): shape, computed only the 6 tiles over it",
                 window.shape == part.shape and window_tiles == 6,
                 f"{window.shape}, TILES_COMPUTED={window_tiles}")
    checks.below("rasterio window vs the same cells of the whole read (max abs)",
                 max_diff(window, part), TOLERANCE)
    checks.check("rasterio band 1 alone: shape and NaN cells",
                 band1.shape == (ROWS, COLUMNS) and same_nan(band1, whole[0]))
    checks.below("rasterio band 1 alone vs band 1 of the whole read (max abs)",
                 max_diff(band1, whole[0]), TOLERANCE)
    return whole


def test_dask(checks, path, options, whole):
    print("Dask: one delayed rasterio read per block, threaded scheduler, 2 workers")
    recipes = os.path.join(common.REPO, "docs", "recipes.md")
    text = open(recipes, encoding="utf-8").read() if os.path.exists(recipes) else ""
    checks.check("docs/recipes.md holds read_window and feature_array verbatim",
                 all(inspect.getsource(f) in text for f in (read_window, feature_array)))

    # Uncached handles: every task computes the tiles under its block itself,
    # two at a time.
    lazy = feature_array(path, dict(options, CACHE_MB=0))
    checks.check("dask: shape (48, 10, 13) in 4 x 4-cell chunks, 12 tasks",
                 lazy.shape == (FEATURES, ROWS, COLUMNS)
                 and lazy.chunks == ((FEATURES,), (4, 4, 2), (4, 4, 4, 1))
                 and lazy.npartitions == 12,
                 f"{lazy.shape}, chunks {lazy.chunks[1:]}")
    computed = lazy.compute(scheduler="threads", num_workers=2)
    checks.check("dask: Float32, same NaN cells as the whole read",
                 computed.dtype == np.float32 and same_nan(computed, whole))
    checks.below("dask compute vs the whole rasterio read (max abs)",
                 max_diff(computed, whole), TOLERANCE)
    part = lazy[:, 5:9, 2:11].compute(scheduler="threads", num_workers=2)
    checks.below("dask slice [:, 5:9, 2:11] vs the same cells of the whole read (max abs)",
                 max_diff(part, whole[:, 5:9, 2:11]), TOLERANCE)
    mean = da.nanmean(lazy, axis=(1, 2)).compute(scheduler="threads", num_workers=2)
    checks.below("dask nanmean over cells vs numpy's (max abs)",
                 float(np.max(np.abs(mean - np.nanmean(whole, axis=(1, 2))))), 1e-5)


def main():
    common.require_drivers(gdal, "VITFEAT")
    print(f"GDAL {gdal.__version__} (rasterio's: {rasterio.__gdal_version__}), "
          f"rasterio {rasterio.__version__}, dask {dask.__version__}, numpy {np.__version__}, "
          f"GDAL_DRIVER_PATH={os.environ['GDAL_DRIVER_PATH']}")
    checks = common.Checks()
    with tempfile.TemporaryDirectory(prefix="vitfeat_recipes_") as folder:
        model = common.make_model(folder, depth=2, embed_dim=FEATURES, heads=3, input_size=64,
                                  seed=11)
        scene = os.path.join(folder, "scene.tif")
        write_scene(scene)
        path = "VITFEAT:" + scene
        options = {"MODEL": model, "STRIDE": 32, "BLEND": "cosine"}
        whole = test_rasterio(checks, path, options)
        test_dask(checks, path, options, whole)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
