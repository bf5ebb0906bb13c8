#!/usr/bin/python3
"""VITCLASSIFY end to end, against the truth and scikit-learn.

A synthetic feature GeoTIFF holds four land-cover classes in regions with their
own feature means; a GeoPackage written here (in EPSG:4326, so the points are
transformed into the raster's CRS) labels cells with points and one class with
polygons. Checked:
- random forest, kNN and logistic regression classify the cells that are not
  training samples with accuracy >= 0.95, and their OVERALL_ACCURACY metadata
  is >= 0.95;
- every figure in the metadata (accuracy, per-class precision, recall, F1,
  support, confusion matrix) equals scikit-learn's metrics of the held-out
  cells' classes and the label band's values there;
- the same options give the same labels in another process;
- on a harder case with overlapping classes, at least 95 % of the cells get the
  same class from VITCLASSIFY and from scikit-learn's RandomForestClassifier
  trained on the same samples;
- the descriptor reopens without fitting and gives the same labels, and a
  class with a single sample is refused with an error naming it.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal, ogr, osr = common.require_modules("numpy", "osgeo.gdal", "osgeo.ogr", "osgeo.osr")
(sklearn,) = common.require_modules("sklearn")
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.metrics import accuracy_score, confusion_matrix  # noqa: E402
from sklearn.metrics import precision_recall_fscore_support  # noqa: E402

gdal.UseExceptions()
WIDTH = HEIGHT = 64
BANDS = 16
CLASSES = ["water", "forest", "crop", "urban"]
CELL, X0, Y0 = 10.0, 500000.0, 5200000.0  # view_test_common.write_features' grid


def regions():
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (cols * 2 // WIDTH) * 2 + (rows * 2 // HEIGHT)  # four quadrants, classes 0..3


def feature_cube(rng, separation, noise):
    truth = regions()
    means = rng.standard_normal((4, BANDS)) * separation
    cube = means[truth].transpose(2, 0, 1) + noise * rng.standard_normal((BANDS, HEIGHT, WIDTH))
    return cube.astype(np.float32), truth


def cell_centre(x, y):
    return X0 + (x + 0.5) * CELL, Y0 - (y + 0.5) * CELL


def write_training(path, rng, truth, per_class, polygon_class=None):
    """Points at random cells of each class (labelled by the truth), written in
    EPSG:4326; the polygon class, if any, as a few squares inside its region."""
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs = osr.CoordinateTransformation(utm, wgs)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("samples", wgs, ogr.wkbUnknown)
    layer.CreateField(ogr.FieldDefn("landcover", ogr.OFTString))
    cells = set()
    for c in range(4):
        if c == polygon_class:
            # Squares of 6x6 cells well inside the class's quadrant.
            ys, xs = np.nonzero(truth == c)
            for (qx, qy) in [(xs.min() + 4, ys.min() + 4), (xs.min() + 16, ys.min() + 18)]:
                ring = ogr.Geometry(ogr.wkbLinearRing)
                for (dx, dy) in [(0, 0), (6, 0), (6, 6), (0, 6), (0, 0)]:
                    px, py = X0 + (qx + dx) * CELL, Y0 - (qy + dy) * CELL
                    lon, lat, _ = to_wgs.TransformPoint(px, py)
                    ring.AddPoint_2D(lon, lat)
                polygon = ogr.Geometry(ogr.wkbPolygon)
                polygon.AddGeometry(ring)
                f = ogr.Feature(layer.GetLayerDefn())
                f.SetField("landcover", CLASSES[c])
                f.SetGeometry(polygon)
                layer.CreateFeature(f)
            continue
        ys, xs = np.nonzero(truth == c)
        for i in rng.choice(len(xs), per_class, replace=False):
            x, y = int(xs[i]), int(ys[i])
            cells.add((x, y))
            lon, lat, _ = to_wgs.TransformPoint(*cell_centre(x, y))
            f = ogr.Feature(layer.GetLayerDefn())
            f.SetField("landcover", CLASSES[c])
            f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({lon!r} {lat!r})"))
            layer.CreateFeature(f)
    ds = None
    return cells


def open_view(features, options):
    return gdal.OpenEx("VITCLASSIFY:" + features, gdal.OF_RASTER, open_options=options)


def metadata_figures(ds):
    md = ds.GetMetadata("VITCLASSIFY")
    k = len(md["CLASSES"].split(","))
    confusion = np.array([[int(v) for v in row.split(",")]
                          for row in md["CONFUSION_MATRIX"].split(";")])
    per = {name: np.array([float(md[f"CLASS_{c}_{name}"]) for c in range(k)])
           for name in ("PRECISION", "RECALL", "F1", "SUPPORT")}
    return md, float(md["OVERALL_ACCURACY"]), confusion, per


def held_out(descriptor):
    fit = json.load(open(descriptor))["fit"]
    return np.array(fit["metrics"]["held_out_x_y_class"], dtype=np.int64)


def check_method(checks, folder, features, truth, training_cells, method, extra):
    name = method
    options = ["TRAINING=" + os.path.join(folder, "training.gpkg"), "FIELD=landcover",
               f"METHOD={method}", "SEED=5", "SAMPLES=30"] + extra
    ds = open_view(features, options)
    labels = ds.GetRasterBand(1).ReadAsArray()
    names = ds.GetRasterBand(1).GetCategoryNames()
    # The view's class numbers follow the field's values sorted; map them to the truth's.
    to_truth = np.array([CLASSES.index(n) for n in names])
    predicted = to_truth[labels]
    mask = np.ones_like(truth, dtype=bool)
    for (x, y) in training_cells:
        mask[y, x] = False
    accuracy = float((predicted[mask] == truth[mask]).mean())
    checks.check(f"{name}: accuracy on the {int(mask.sum())} cells that are no training point "
                 f">= 0.95", accuracy >= 0.95, f"{accuracy:.4f}")
    md, overall, confusion, per = metadata_figures(ds)
    checks.check(f"{name}: OVERALL_ACCURACY >= 0.95", overall >= 0.95,
                 f"{overall:.4f} on {md['TEST_SAMPLES']} held-out samples, "
                 f"{md['TRAIN_SAMPLES']} training")

    descriptor = os.path.join(folder, f"{method}.vitclass")
    gdal.Translate(descriptor, ds, format="VITCLASSIFY")
    cells = held_out(descriptor)
    y_true = cells[:, 2]
    y_pred = labels[cells[:, 1], cells[:, 0]].astype(np.int64)
    k = len(names)
    p, r, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=range(k),
                                                        zero_division=0)
    same = (abs(accuracy_score(y_true, y_pred) - overall) < 1e-12
            and np.array_equal(confusion_matrix(y_true, y_pred, labels=range(k)), confusion)
            and np.allclose(per["PRECISION"], p, atol=1e-12)
            and np.allclose(per["RECALL"], r, atol=1e-12)
            and np.allclose(per["F1"], f1, atol=1e-12)
            and np.array_equal(per["SUPPORT"], support))
    checks.check(f"{name}: metadata figures equal scikit-learn's on the held-out cells", same,
                 f"accuracy {overall:.4f} vs {accuracy_score(y_true, y_pred):.4f}, "
                 f"{len(cells)} cells")

    reopened = gdal.Open(descriptor)
    again = reopened.GetRasterBand(1).ReadAsArray()
    checks.check(f"{name}: the descriptor reopens from its saved fit with the same labels",
                 reopened.GetMetadataItem("FIT_FROM", "VITCLASSIFY") == "descriptor"
                 and np.array_equal(again, labels),
                 reopened.GetMetadataItem("FIT_FROM", "VITCLASSIFY"))

    # Another process, same options: the same labels, bit for bit.
    script = ("import sys, hashlib; from osgeo import gdal; "
              "ds = gdal.OpenEx('VITCLASSIFY:' + sys.argv[1], open_options=sys.argv[2:]); "
              "print(hashlib.sha256(ds.GetRasterBand(1).ReadAsArray().tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", script, features] + options, check=True,
                         capture_output=True, text=True, env=os.environ).stdout.strip()
    import hashlib

    checks.check(f"{name}: the same labels in another process",
                 out == hashlib.sha256(labels.tobytes()).hexdigest(), out[:16])
    return ds


def check_probabilities_and_rasterio(checks, folder, features):
    print("PROBABILITIES=YES, and rasterio")
    options = ["TRAINING=" + os.path.join(folder, "training.gpkg"), "FIELD=landcover",
               "METHOD=random_forest", "SEED=5", "SAMPLES=30", "PROBABILITIES=YES"]
    ds = open_view(features, options)
    labels = ds.GetRasterBand(1).ReadAsArray()
    proba = ds.ReadAsArray()[1:].astype(np.float64)  # classes x rows x columns
    names = [ds.GetRasterBand(b).GetDescription() for b in range(2, ds.RasterCount + 1)]
    checks.check("probabilities: one Float32 band per class, named after it",
                 ds.RasterCount == 5 and names == ["probability " + c for c in sorted(CLASSES)]
                 and ds.GetRasterBand(2).DataType == gdal.GDT_Float32, ", ".join(names))
    checks.check("probabilities: sum to 1 in every cell, and the label is the most probable",
                 bool(np.allclose(proba.sum(axis=0), 1, atol=1e-5)
                      and np.array_equal(np.argmax(proba, axis=0), labels)),
                 f"sums in [{proba.sum(axis=0).min():.6f}, {proba.sum(axis=0).max():.6f}]")
    descriptor = os.path.join(folder, "probabilities.vitclass")
    gdal.Translate(descriptor, ds, format="VITCLASSIFY")
    try:
        import rasterio
    except ImportError:
        print("  WARN rasterio is not importable: install python3-rasterio")
        return
    with rasterio.open(descriptor) as src:
        # One read per data type: rasterio reads bands of one type at a time.
        label_band = src.read(1)
        proba_bands = src.read(list(range(2, src.count + 1)))
        dtypes = src.dtypes
    checks.check("rasterio reads the descriptor's label and probability bands as GDAL does",
                 bool(np.array_equal(label_band, labels)
                      and np.array_equal(proba_bands, proba.astype(np.float32))),
                 f"{dtypes[0]} and {len(dtypes) - 1} x {dtypes[1]}")


def check_forest_against_sklearn(checks, folder):
    print("random forest against scikit-learn on overlapping classes")
    rng = np.random.default_rng(11)
    cube, truth = feature_cube(rng, separation=0.8, noise=1.0)
    features = os.path.join(folder, "overlapping.tif")
    common.write_features(gdal, features, cube)
    training = os.path.join(folder, "overlapping.gpkg")
    cells = write_training(training, rng, truth, per_class=150)
    ds = open_view(features, ["TRAINING=" + training, "FIELD=landcover", "SEED=1",
                              "TEST_FRACTION=0.25"])
    labels = ds.GetRasterBand(1).ReadAsArray()
    names = ds.GetRasterBand(1).GetCategoryNames()
    descriptor = os.path.join(folder, "overlapping.vitclass")
    gdal.Translate(descriptor, ds, format="VITCLASSIFY")
    test = {(int(x), int(y)) for x, y, _ in held_out(descriptor)}
    train = sorted(cells - test)
    x = np.array([cube[:, y, c] for c, y in train], dtype=np.float64)
    y = np.array([names.index(CLASSES[truth[r, c]]) for c, r in train])
    reference = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    everything = cube.reshape(BANDS, -1).T.astype(np.float64)
    theirs = reference.predict(everything).reshape(HEIGHT, WIDTH)
    agreement = float((theirs == labels).mean())
    # For scale: two scikit-learn forests that differ only in their seed.
    other = RandomForestClassifier(n_estimators=100, random_state=1).fit(x, y)
    baseline = float((other.predict(everything).reshape(HEIGHT, WIDTH) == theirs).mean())
    ours_accuracy = float((np.array([CLASSES.index(n) for n in names])[labels] == truth).mean())
    checks.check("forest: >= 0.95 of all cells classified as scikit-learn's forest does",
                 agreement >= 0.95,
                 f"{agreement:.4f} agree (scikit-learn seed 0 vs seed 1: {baseline:.4f}); "
                 f"our accuracy {ours_accuracy:.3f}, "
                 f"{len(train)} training samples")


def check_errors(checks, folder, features, truth):
    print("errors")
    path = os.path.join(folder, "lonely.gpkg")
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(32633)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("samples", wgs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("landcover", ogr.OFTString))
    for i, name in enumerate(["a", "a", "a", "b"]):
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("landcover", name)
        x, y = cell_centre(3 + 5 * i, 3)
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        layer.CreateFeature(f)
    ds = None
    gdal.DontUseExceptions()
    gdal.ErrorReset()
    view = open_view(features, ["TRAINING=" + path, "FIELD=landcover"])
    message = gdal.GetLastErrorMsg()
    checks.check("a class with one sample is an error naming it",
                 view is None and "class b" in message and "at least 2" in message, message)
    gdal.ErrorReset()
    view = open_view(features, ["TRAINING=" + path, "FIELD=landcover", "METHOD=svm"])
    message = gdal.GetLastErrorMsg()
    checks.check("an unknown METHOD is an error listing the valid ones",
                 view is None and "METHOD=svm" in message and "random_forest" in message, message)
    gdal.ErrorReset()
    view = open_view(features, ["TRAINING=" + path, "FIELD=cover"])
    message = gdal.GetLastErrorMsg()
    checks.check("a missing FIELD is an error listing the layer's fields",
                 view is None and "cover" in message and "landcover" in message, message)
    gdal.UseExceptions()


def main():
    common.require_drivers(gdal, "VITCLASSIFY")
    checks = common.Checks()
    folder = tempfile.mkdtemp(prefix="vitfeat_classify_")
    print(f"files in {folder}")
    rng = np.random.default_rng(3)
    cube, truth = feature_cube(rng, separation=1.0, noise=0.6)
    features = os.path.join(folder, "features.tif")
    common.write_features(gdal, features, cube)
    training_cells = write_training(os.path.join(folder, "training.gpkg"), rng, truth,
                                    per_class=40, polygon_class=2)
    for method, extra in [("random_forest", []), ("knn", ["K=5"]), ("logistic", [])]:
        print(f"METHOD={method}")
        check_method(checks, folder, features, truth, training_cells, method, extra)
    check_probabilities_and_rasterio(checks, folder, features)
    check_forest_against_sklearn(checks, folder)
    check_errors(checks, folder, features, truth)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
