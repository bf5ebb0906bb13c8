#!/usr/bin/python3
"""The RGB PCA view and the label views (clusters, classes) in headless QGIS (python3-qgis).

Writes a feature GeoTIFF, writes a VITPCA RGB=YES descriptor and a VITCLUSTER
descriptor with gdal_translate, adds each to QGIS as a raster layer through the
'gdal' provider, renders its full extent with one output pixel per cell to a
PNG, and checks: the layer is valid with the raster's CRS, extent and size;
QGIS picks the renderer the view is made for (three-band colour for the RGB
PCA, paletted from the colour table for the clusters); the PNG is not blank;
the rendered colours equal GDAL's pixels (R, G, B = the three bands; the
colour-table entry of the label), with cells without data transparent; and the
provider's block values equal GDAL's for a block.

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3. The PNGs stay in the printed folder.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
(qgis_core,) = common.require_modules("qgis.core")
from qgis.core import (  # noqa: E402
    Qgis, QgsContrastEnhancement, QgsMapRendererSequentialJob, QgsMapSettings,
    QgsMultiBandColorRenderer, QgsRasterLayer, QgsRectangle)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor, QImage  # noqa: E402

gdal.UseExceptions()

WIDTH, HEIGHT, BANDS = 64, 48, 16
N_CLUSTERS = 6
CELL, X0, Y0 = 10.0, 500000.0, 5200000.0  # view_test_common.write_features' grid
HOLE = (slice(20, 26), slice(30, 38))  # rows, columns without data


def feature_cube(rng):
    """Six regions (vertical bands of columns, split in two by row) with their own
    feature means, smooth gradients and a little noise, and a hole without data."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    region = (cols * 3 // WIDTH) * 2 + (rows * 2 // HEIGHT)
    means = rng.standard_normal((6, BANDS)) * 4.0
    gradient = np.stack([np.sin(rows / 9.0 + b) + np.cos(cols / 13.0 - b) for b in range(BANDS)])
    cube = means[region].transpose(2, 0, 1) + 0.3 * gradient + 0.1 * rng.standard_normal(
        (BANDS, HEIGHT, WIDTH))
    cube = cube.astype(np.float32)
    cube[:, HOLE[0], HOLE[1]] = np.nan
    return cube


def translate(source, destination, driver, options):
    """gdal_translate, as a user runs it; GDAL's Python Translate where the tool is absent."""
    tool = shutil.which("gdal_translate") or "/usr/bin/gdal_translate"
    if os.path.exists(tool):
        args = [tool, "-q", "-of", driver, source, destination]
        for o in options:
            args += ["-oo", o]
        subprocess.run(args, check=True, env=os.environ)
    else:
        gdal.Translate(destination, gdal.OpenEx(source, open_options=options), format=driver)


def render(layer, png):
    """The layer's full extent, one output pixel per cell, transparent background."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(QSize(layer.width(), layer.height()))
    settings.setExtent(layer.extent())
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    settings.setOutputDpi(96)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    if not image.save(png, "PNG"):
        raise RuntimeError(f"cannot write {png}")
    # The PNG as written, read back: rows x columns x RGBA.
    saved = QImage(png).convertToFormat(QImage.Format_RGBA8888)
    bits = saved.constBits()
    bits.setsize(saved.sizeInBytes())
    rows = np.frombuffer(bits, np.uint8).reshape(saved.height(), saved.bytesPerLine())
    return rows[:, :saved.width() * 4].reshape(saved.height(), saved.width(), 4).copy(), settings


def provider_block(layer, band, x0, y0, w, h):
    """QGIS provider's block(band, extent, w, h) of cells [x0, x0 + w) x [y0, y0 + h)."""
    gt = gdal.Open(layer.source()).GetGeoTransform()
    extent = QgsRectangle(gt[0] + x0 * gt[1], gt[3] + (y0 + h) * gt[5],
                          gt[0] + (x0 + w) * gt[1], gt[3] + y0 * gt[5])
    block = layer.dataProvider().block(band, extent, w, h)
    types = {Qgis.DataType.Byte: np.uint8, Qgis.DataType.Float32: np.float32,
             Qgis.DataType.UInt16: np.uint16}
    values = np.frombuffer(bytes(block.data()), types[block.dataType()]).reshape(h, w).copy()
    nodata = np.array([[block.isNoData(r, c) for c in range(w)] for r in range(h)])
    return values, nodata


# A few cells to check one by one: corners, the hole, each region.
POINTS = [(0, 0), (WIDTH - 1, 0), (0, HEIGHT - 1), (WIDTH - 1, HEIGHT - 1), (33, 22), (10, 10),
          (10, 40), (31, 5), (31, 40), (55, 12), (55, 35), (21, 23)]


def check_layer_basics(checks, name, layer, reference):
    checks.check(f"{name}: QgsRasterLayer is valid", layer.isValid(),
                 layer.error().summary() if not layer.isValid() else "")
    if not layer.isValid():
        return False
    gt = reference.GetGeoTransform()
    expected = QgsRectangle(gt[0], gt[3] + reference.RasterYSize * gt[5],
                            gt[0] + reference.RasterXSize * gt[1], gt[3])
    checks.check(f"{name}: size, band count, CRS and extent of the view",
                 layer.width() == reference.RasterXSize and layer.height() == reference.RasterYSize
                 and layer.bandCount() == reference.RasterCount
                 and layer.crs().authid() == "EPSG:32633" and layer.extent() == expected,
                 f"{layer.width()}x{layer.height()}x{layer.bandCount()}, {layer.crs().authid()}, "
                 f"{layer.extent().toString()}")
    return True


def test_rgb(checks, folder, features, name, driver, extension, options):
    """A view with RGB=YES: three Byte bands, 0 for no data."""
    print(f"{driver} RGB=YES descriptor in QGIS")
    descriptor = os.path.join(folder, f"{name.lower()}.{extension}")
    translate(f"{driver}:" + features, descriptor, driver, ["RGB=YES"] + options)
    reference = gdal.Open(descriptor)
    checks.check(f"{name}: GDAL opens the descriptor with {driver}",
                 reference.GetDriver().ShortName == driver, reference.GetDriver().ShortName)
    expected = reference.ReadAsArray()  # 3 x rows x columns, Byte
    layer = QgsRasterLayer(descriptor, name, "gdal")
    if not check_layer_basics(checks, name, layer, reference):
        return
    renderer = layer.renderer()
    default = renderer.type()
    enhancements = []
    if isinstance(renderer, QgsMultiBandColorRenderer):
        for e in (renderer.redContrastEnhancement(), renderer.greenContrastEnhancement(),
                  renderer.blueContrastEnhancement()):
            enhancements.append("none" if e is None else int(e.contrastEnhancementAlgorithm()))
    bands = ((renderer.redBand(), renderer.greenBand(), renderer.blueBand())
             if isinstance(renderer, QgsMultiBandColorRenderer) else None)
    checks.check(f"{name}: QGIS's default renderer is three-band colour on bands 1, 2, 3",
                 default == "multibandcolor" and bands == (1, 2, 3),
                 f"{default}, bands {bands}, contrast enhancements {enhancements}")
    stretched = [e for e in enhancements
                 if e != "none" and e != int(QgsContrastEnhancement.NoEnhancement)]
    if stretched or bands != (1, 2, 3):
        # Show the bytes as they are: R, G, B = bands 1, 2, 3, no contrast enhancement.
        print("       QGIS's default renderer stretches or differs; rendering with a three-band "
              "colour renderer without contrast enhancement")
        layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3))

    png = os.path.join(folder, f"{name.lower()}_rgb.png")
    image, _ = render(layer, png)  # QGIS's default renderer unless it stretches
    print(f"       {png}")
    opaque = image[..., 3] == 255
    colours = {tuple(c) for c in image[opaque][:, :3]}
    checks.check(f"{name} PNG: not blank (many distinct colours)", len(colours) >= 20,
                 f"{len(colours)} colours, {100 * opaque.mean():.1f}% opaque")
    rendered = image[..., :3].transpose(2, 0, 1).astype(int)
    valid = np.all(expected != 0, axis=0)
    mismatch = np.abs(rendered - expected.astype(int)).max(axis=0)
    point_ok = all(
        (valid[r, c] and image[r, c, 3] == 255 and mismatch[r, c] == 0)
        or (not valid[r, c] and image[r, c, 3] == 0) for c, r in POINTS)
    detail = "; ".join(f"({c},{r}) png {tuple(image[r, c])} gdal {tuple(expected[:, r, c])}"
                       for c, r in POINTS[:4] + POINTS[4:5])
    checks.check(f"{name} PNG: at the sample cells (R, G, B) = GDAL's bands, the hole transparent",
                 point_ok, detail)
    checks.check(f"{name} PNG: every cell: (R, G, B) = GDAL's bands where valid, transparent elsewhere",
                 bool(np.all(mismatch[valid] == 0) and np.all(opaque == valid)),
                 f"max |diff| {int(mismatch[valid].max())} on valid cells, "
                 f"{int((opaque != valid).sum())} cells with the wrong transparency")

    values, nodata = provider_block(layer, 2, 16, 16, 32, 16)
    gdal_values = reference.GetRasterBand(2).ReadAsArray(16, 16, 32, 16)
    checks.check(f"{name}: provider block(2, 32 x 16 cells) equals GDAL's, nodata on the hole",
                 bool(np.array_equal(values, gdal_values) and np.array_equal(nodata, gdal_values == 0)),
                 f"max |diff| {int(np.abs(values.astype(int) - gdal_values).max())}, "
                 f"{int(nodata.sum())} nodata cells")


def test_rgb_pca(checks, folder, features):
    test_rgb(checks, folder, features, "PCA", "VITPCA", "vitpca", ["SAMPLE=0", "SEED=3"])


def test_paletted(checks, folder, features, name, driver, extension, options, labels_count):
    """A view with one label band (colour table, category names) in QGIS."""
    print(f"{driver} descriptor in QGIS")
    descriptor = os.path.join(folder, f"{name}.{extension}")
    translate(f"{driver}:" + features, descriptor, driver, options)
    reference = gdal.Open(descriptor)
    checks.check(f"{name}: GDAL opens the descriptor with {driver}",
                 reference.GetDriver().ShortName == driver, reference.GetDriver().ShortName)
    band = reference.GetRasterBand(1)
    if labels_count is None:  # as many as the view's categories (HDBSCAN finds its own)
        labels_count = len(band.GetCategoryNames())
    labels = band.ReadAsArray()
    table = band.GetColorTable()
    layer = QgsRasterLayer(descriptor, name, "gdal")
    if not check_layer_basics(checks, name, layer, reference):
        return
    renderer = layer.renderer()
    checks.check(f"{name}: QGIS's default renderer is paletted, from the colour table",
                 renderer.type() == "paletted", renderer.type())
    if renderer.type() == "paletted":
        classes = {c.value: c.color for c in renderer.classes()}
        same = all(v in classes and classes[v].getRgb() == table.GetColorEntry(v)
                   for v in range(labels_count))
        checks.check(f"{name}: the paletted classes' colours are the colour table's", same,
                     f"{len(classes)} classes")
        labels_of = {c.value: c.label for c in renderer.classes()}
        names = band.GetCategoryNames() or []
        checks.check(f"{name}: the legend labels are the category names",
                     len(names) >= labels_count
                     and all(labels_of.get(v) == names[v] for v in range(labels_count)),
                     f"{labels_of.get(0)!r}, ...")
        legend = len(renderer.legendSymbologyItems())
        checks.check(f"{name}: the legend has one entry per label", legend == labels_count,
                     f"{legend} entries")

    png = os.path.join(folder, f"{name}.png")
    image, _ = render(layer, png)  # QGIS's own default renderer
    print(f"       {png}")
    opaque = image[..., 3] == 255
    colours = {tuple(c) for c in image[opaque][:, :3]}
    present = len(np.unique(labels[labels != 255]))
    checks.check(f"{name} PNG: not blank (one colour per label present: {present})",
                 len(colours) == present and present >= 2, f"{len(colours)} colours")
    valid = labels != 255
    lookup = np.array([table.GetColorEntry(i) for i in range(table.GetCount())], np.int64)
    expected = lookup[np.where(valid, labels, 0)]  # rows x columns x RGBA
    mismatch = np.abs(image.astype(np.int64) - expected).max(axis=2)
    point_ok = all((valid[r, c] and mismatch[r, c] == 0) or (not valid[r, c] and image[r, c, 3] == 0)
                   for c, r in POINTS)
    detail = "; ".join(f"({c},{r}) label {labels[r, c]} png {tuple(image[r, c])}"
                       f" table {table.GetColorEntry(int(labels[r, c])) if valid[r, c] else None}"
                       for c, r in POINTS[:5])
    checks.check(f"{name} PNG: at the sample cells the colour-table entry of the label",
                 point_ok, detail)
    checks.check(f"{name} PNG: every cell: the label's colour where valid, transparent elsewhere",
                 bool(np.all(mismatch[valid] == 0) and np.all(opaque == valid)),
                 f"max |diff| {int(mismatch[valid].max())}, "
                 f"{int((opaque != valid).sum())} cells with the wrong transparency")

    values, nodata = provider_block(layer, 1, 0, 0, WIDTH, HEIGHT)
    checks.check(f"{name}: provider block(1, full extent) equals GDAL's labels, nodata on the hole",
                 bool(np.array_equal(values, labels) and np.array_equal(nodata, ~valid)),
                 f"{int((values != labels).sum())} cells differ, {int(nodata.sum())} nodata cells")


def test_clusters(checks, folder, features):
    test_paletted(checks, folder, features, "clusters", "VITCLUSTER", "vitcluster",
                  [f"N_CLUSTERS={N_CLUSTERS}", "SAMPLE=0", "SEED=3"], N_CLUSTERS)


def test_classify(checks, folder, features):
    """A random forest trained on points labelled with feature_cube's regions."""
    from osgeo import ogr, osr

    training = os.path.join(folder, "regions.gpkg")
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(training)
    layer = ds.CreateLayer("regions", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("region", ogr.OFTInteger))
    rng = np.random.default_rng(5)
    for _ in range(120):
        x, y = int(rng.integers(WIDTH)), int(rng.integers(HEIGHT))
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("region", int((x * 3 // WIDTH) * 2 + (y * 2 // HEIGHT)))
        f.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POINT ({X0 + (x + 0.5) * CELL} {Y0 - (y + 0.5) * CELL})"))
        layer.CreateFeature(f)
    ds = None
    test_paletted(checks, folder, features, "classes", "VITCLASSIFY", "vitclass",
                  ["TRAINING=" + training, "FIELD=region", "N_TREES=20"], 6)


def run():
    common.require_drivers(gdal, "VITPCA", "VITCLUSTER", "VITCLASSIFY", "VITUMAP")
    print(f"QGIS {Qgis.QGIS_VERSION}, GDAL {gdal.__version__}, "
          f"GDAL_DRIVER_PATH={os.environ['GDAL_DRIVER_PATH']}")
    checks = common.Checks()
    folder = tempfile.mkdtemp(prefix="vitfeat_qgis_")
    print(f"files and PNGs in {folder}")
    features = os.path.join(folder, "features.tif")
    common.write_features(gdal, features, feature_cube(np.random.default_rng(7)))
    test_rgb_pca(checks, folder, features)
    test_clusters(checks, folder, features)
    test_classify(checks, folder, features)
    test_paletted(checks, folder, features, "hdbscan", "VITCLUSTER", "vitcluster",
                  ["METHOD=hdbscan", "SAMPLE=1500", "MIN_CLUSTER_SIZE=40"], None)
    test_rgb(checks, folder, features, "UMAP", "VITUMAP", "vitumap", ["SAMPLE=600", "SEED=3"])
    return checks.exit_code()


def main():
    common.run_in_qgis(run)


if __name__ == "__main__":
    sys.exit(main())
