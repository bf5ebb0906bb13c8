#!/usr/bin/python3
"""A large feature raster in headless QGIS computes only coarse tiles.

A 4096 x 4096 3-band input and a .vitfeat descriptor over it (a random ViT with
8-pixel patches, 64-pixel model input, TILE_SIZE=32: 1024 x 1024 cells of 4
pixels, 128 x 128 = 16384 full-resolution tiles). QGIS (Debian's python3-qgis,
offscreen) adds the descriptor as a raster layer and renders its full extent to
a 256 x 256 PNG, as a user opening the layer would. Checks:
- the layer is valid and the PNG is not blank;
- the tiles run by the model during add + render (the driver's process-wide
  counter, read in this process) are at most 15 % of the full-resolution count;
- add + render take at most 15 % of the time of computing the full-resolution
  raster, measured afterwards in the same run;
- the rendered colours come from the 1/4 overview level as GDAL reads it;
- the data provider's block at full resolution equals GDAL's values.

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
"""
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
common.require_modules("qgis.core")
from qgis.core import (  # noqa: E402
    Qgis, QgsMapRendererSequentialJob, QgsMapSettings, QgsRasterLayer,
    QgsRectangle)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor, QImage  # noqa: E402

gdal.UseExceptions()

SIZE = 4096
TILE = 32  # input pixels per tile: 8 x 8 cells of 4 pixels
CELLS = SIZE // 4
FULL_TILES = (SIZE // TILE) ** 2
OUT = 256  # rendered PNG side: QGIS reads the 1/4 overview level


def write_input(path):
    """Fields of different brightness, a river, a road grid and texture."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    field = ((rows // 512) * 8 + cols // 512) % 7
    base = 40 + 25 * field
    river = np.abs(rows - 1800 - 300 * np.sin(cols / 500.0)) < 60
    road = (rows % 1024 < 12) | (cols % 1024 < 12)
    texture = (rows * 7 + cols * 13) % 17
    bands = []
    for b in range(3):
        v = base + texture + 10 * b
        v = np.where(river, 20 + 5 * b, v)
        v = np.where(road, 220, v)
        bands.append(np.clip(v, 0, 255).astype(np.uint8))
    driver = gdal.GetDriverByName("GTiff")
    ds = driver.Create(path, SIZE, SIZE, 3, gdal.GDT_Byte, ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000.0, 1.0, 0.0, 5200000.0, 0.0, -1.0))
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(bands[b])
    ds = None


def process_tiles(descriptor):
    """Tiles run by the model in this process, every handle and level."""
    ds = gdal.Open(descriptor)
    return int(ds.GetMetadataItem("PROCESS_TILES_COMPUTED", "VITFEAT"))


def run():
    common.require_drivers(gdal, "VITFEAT")
    print(f"QGIS {Qgis.QGIS_VERSION}, GDAL {gdal.__version__}, "
          f"GDAL_DRIVER_PATH={os.environ['GDAL_DRIVER_PATH']}")
    checks = common.Checks()
    folder = tempfile.mkdtemp(prefix="vitfeat_qgis_large_")
    print(f"files and PNG in {folder}")
    source = os.path.join(folder, "input.tif")
    write_input(source)
    model = os.path.join(folder, "vit_p8")
    subprocess.run([os.environ["VITFEAT_MAKE_MODEL"], model, "--arch", "vit_small_patch8_224",
                    "--depth", "2", "--embed-dim", "64", "--heads", "2", "--input-size", "64"],
                   check=True, stdout=subprocess.DEVNULL)
    descriptor = os.path.join(folder, "features.vitfeat")
    options = [f"MODEL={model}", f"TILE_SIZE={TILE}", "NORMALIZE=model", "SCALE=255",
               "BATCH_SIZE=16"]
    gdal.Translate(descriptor, gdal.OpenEx("VITFEAT:" + source, open_options=options),
                   format="VITFEAT")
    reference = gdal.Open(descriptor)
    checks.check("descriptor: 1024 x 1024 cells, overviews down to one tile",
                 reference.RasterXSize == CELLS and
                 reference.GetMetadataItem("OVERVIEWS", "VITFEAT") == "2,4,8,16,32,64,128",
                 f"{reference.RasterXSize} cells, OVERVIEWS="
                 f"{reference.GetMetadataItem('OVERVIEWS', 'VITFEAT')}")

    before = process_tiles(descriptor)
    start = time.perf_counter()
    layer = QgsRasterLayer(descriptor, "features", "gdal")
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(QSize(OUT, OUT))
    settings.setExtent(layer.extent())
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    render_seconds = time.perf_counter() - start
    render_tiles = process_tiles(descriptor) - before
    png = os.path.join(folder, "features.png")
    image.save(png, "PNG")
    print(f"       {png}: add + render {render_seconds:.2f} s, {render_tiles} tiles")
    checks.check("QGIS: the layer is valid, 64 bands", layer.isValid() and layer.bandCount() == 64,
                 layer.error().summary() if not layer.isValid() else f"{layer.bandCount()}")
    saved = QImage(png).convertToFormat(QImage.Format_RGBA8888)
    bits = saved.constBits()
    bits.setsize(saved.sizeInBytes())
    pixels = np.frombuffer(bits, np.uint8).reshape(OUT, saved.bytesPerLine())[:, :OUT * 4]
    colours = {tuple(c) for c in pixels.reshape(-1, 4)[:, :3]}
    checks.check("QGIS: the PNG is not blank", len(colours) >= 20, f"{len(colours)} colours")
    checks.check("QGIS: add + render computed at most 15 % of the full-resolution tiles",
                 0 < render_tiles <= 0.15 * FULL_TILES,
                 f"{render_tiles} of {FULL_TILES} ({100.0 * render_tiles / FULL_TILES:.1f} %)")

    # The full-resolution raster, every band, through GDAL in this process.
    before = process_tiles(descriptor)
    start = time.perf_counter()
    full = gdal.OpenEx(descriptor, open_options=["OVERVIEWS=NONE"])
    features = full.ReadAsArray()
    full_seconds = time.perf_counter() - start
    full_tiles = process_tiles(descriptor) - before
    print(f"       full resolution: {full_seconds:.2f} s, {full_tiles} tiles")
    checks.check("full resolution: every tile computed once", full_tiles == FULL_TILES,
                 f"{full_tiles}")
    checks.check("QGIS: add + render took at most 15 % of the full-resolution time",
                 render_seconds <= 0.15 * full_seconds,
                 f"{render_seconds:.2f} s vs {full_seconds:.2f} s "
                 f"({100.0 * render_seconds / full_seconds:.1f} %)")

    # The provider's block at full resolution equals GDAL's values.
    x0, y0, w, h = 300, 500, 40, 24
    gt = reference.GetGeoTransform()
    extent = QgsRectangle(gt[0] + x0 * gt[1], gt[3] + (y0 + h) * gt[5],
                          gt[0] + (x0 + w) * gt[1], gt[3] + y0 * gt[5])
    block = layer.dataProvider().block(5, extent, w, h)
    values = np.frombuffer(bytes(block.data()), np.float32).reshape(h, w)
    want = features[4, y0:y0 + h, x0:x0 + w]
    checks.check("QGIS: provider block(5, 40 x 24 cells) equals GDAL's values",
                 bool(np.array_equal(values, want)),
                 f"max |diff| {float(np.abs(values - want).max()):.3g}")
    layer = None
    return checks.exit_code()


def main():
    common.run_in_qgis(run)


if __name__ == "__main__":
    sys.exit(main())
